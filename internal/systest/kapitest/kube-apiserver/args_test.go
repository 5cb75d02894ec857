package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		dir     string
		host    string
		rest    []string
		wantErr string
	}{
		{name: "none", in: nil, host: "127.0.0.1"},
		{name: "passes others in order", in: []string{"--secure-port=1", "-v", "2", "--x"}, host: "127.0.0.1", rest: []string{"--secure-port=1", "-v", "2", "--x"}},
		{name: "own with =", in: []string{"--embedded-etcd-dir=/d", "--a", "--embedded-etcd-host=127.0.0.9"}, dir: "/d", host: "127.0.0.9", rest: []string{"--a"}},
		{name: "own with space", in: []string{"--embedded-etcd-dir", "/d", "--a"}, dir: "/d", host: "127.0.0.1", rest: []string{"--a"}},
		{name: "missing value", in: []string{"--embedded-etcd-dir"}, wantErr: "needs a value"},
		{name: "etcd-servers refused", in: []string{"--etcd-servers=http://x"}, wantErr: "--etcd-servers"},
		{name: "empty host", in: []string{"--embedded-etcd-host="}, wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			own, rest, err := splitArgs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if own.etcdDir != tc.dir || own.etcdHost != tc.host || !slices.Equal(rest, tc.rest) {
				t.Errorf("got %+v %q, want dir %q host %q rest %q", own, rest, tc.dir, tc.host, tc.rest)
			}
		})
	}
}
