package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// etcdServer is a running embedded etcd.
type etcdServer struct {
	ClientURL string
	e         *embed.Etcd
	tmpDir    string // removed on Close when non-empty
}

// startEtcd starts etcd on two free loopback ports and waits until it serves.
func startEtcd(own ownFlags) (*etcdServer, error) {
	dir, tmp := own.etcdDir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "kapi-etcd-")
		if err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		dir, tmp = d, d
	}
	clientURL, err := freeURL(own.etcdHost)
	if err != nil {
		return nil, err
	}
	peerURL, err := freeURL(own.etcdHost)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "kapi"
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		removeTmp(tmp)
		return nil, fmt.Errorf("start: %w", err)
	}
	s := &etcdServer{ClientURL: clientURL.String(), e: e, tmpDir: tmp}
	select {
	case <-e.Server.ReadyNotify():
		return s, nil
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("before ready: %w", err)
	case <-time.After(60 * time.Second):
		s.Close()
		return nil, errors.New("not ready after 60s")
	}
}

// Close stops etcd and removes a temporary data directory.
func (s *etcdServer) Close() {
	s.e.Close()
	removeTmp(s.tmpDir)
}

func removeTmp(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// freeURL reserves a free port on host and returns http://host:port. The port
// is released before etcd binds it; on loopback the race is negligible.
func freeURL(host string) (*url.URL, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("free port on %s: %w", host, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("free port on %s: %w", host, err)
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}
