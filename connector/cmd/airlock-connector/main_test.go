package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestBinaryServesAndExitsCleanly builds the real binary, joins it to an
// in-process edge, sends a stream through it and expects exit 0 on SIGTERM.
// The flags are tested in package connector (TestFlagErrors).
func TestBinaryServesAndExitsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testenv.BuildBinary(t, ".")

	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "demo", "k8s.example.com")
	origin := echoOrigin(t)

	cmd := exec.Command(bin, "--credentials", tun.CredentialsFile, "--ingress", "k8s.example.com=tcp://"+origin,
		"--admin", "127.0.0.1:0", "--log-format", "json", "--grace", "10s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	readerDone := make(chan struct{})
	adminAddr := make(chan string, 1)
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "admin listening" {
				adminAddr <- line.Addr
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-readerDone // no logging after the test ends
	})

	var admin string
	select {
	case admin = <-adminAddr:
	case err := <-exited:
		t.Fatalf("the connector exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no admin address logged")
	}
	waitReady(t, "http://"+admin+"/ready")

	client := edgeclient.NewClient(edgeclient.Config{Addr: e.Addr, ServerName: e.ServerName, RootCAs: e.RootCAs})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Open(ctx, &wire.Open{App: "k8s.example.com", Token: e.MintToken(t, "k8s.example.com", "ada@example.com", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(s, "through the binary")
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "through the binary" {
		t.Fatalf("echo %q, %v", got, err)
	}
	s.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the connector did not exit after SIGTERM")
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	testenv.Eventually(t, url+" to answer ready", func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}

func echoOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}
