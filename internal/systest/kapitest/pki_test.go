package kapitest

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"
)

func TestPKI(t *testing.T) {
	tests := []struct {
		name string
		ip   net.IP
		want []string // IP SANs
	}{
		{"default", net.IPv4(127, 0, 0, 1), []string{"127.0.0.1"}},
		{"other loopback", net.IPv4(127, 0, 0, 9), []string{"127.0.0.9", "127.0.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := newPKI(tc.ip)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := k.writeFiles(dir); err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(k.caPEM) {
				t.Fatal("CA PEM holds no certificate")
			}
			server := parseCert(t, k.serverCertPEM)
			var ips []string
			for _, ip := range server.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.want) {
				t.Errorf("IP SANs %v, want %v", ips, tc.want)
			}
			for _, name := range []string{"localhost", "kubernetes.default.svc.cluster.local"} {
				if _, err := server.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
					t.Errorf("serving cert for %s: %v", name, err)
				}
			}
			if _, err := server.Verify(x509.VerifyOptions{Roots: pool, DNSName: tc.ip.String()}); err != nil {
				t.Errorf("serving cert for %s: %v", tc.ip, err)
			}
			client := parseCert(t, k.clientCertPEM)
			if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client cert: %v", err)
			}
			if client.Subject.CommonName != AdminUser || !slices.Equal(client.Subject.Organization, []string{"system:masters"}) {
				t.Errorf("client subject %v", client.Subject)
			}
			if _, err := tls.X509KeyPair(k.clientCertPEM, k.clientKeyPEM); err != nil {
				t.Errorf("client key pair: %v", err)
			}
			if _, err := tls.X509KeyPair(k.serverCertPEM, k.serverKeyPEM); err != nil {
				t.Errorf("server key pair: %v", err)
			}
			saBlock, _ := pem.Decode(k.saKeyPEM)
			if saBlock == nil {
				t.Fatal("service-account key is not PEM")
			}
			if key, err := x509.ParsePKCS8PrivateKey(saBlock.Bytes); err != nil {
				t.Errorf("service-account key: %v", err)
			} else if _, ok := key.(*rsa.PrivateKey); !ok {
				t.Errorf("service-account key is %T, want RSA", key)
			}
			fi, err := os.Stat(k.clientKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("client key mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoopbackIP(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "127.0.0.1", true},
		{"127.0.0.9", "127.0.0.9", true},
		{"::1", "::1", true},
		{"10.0.0.1", "", false},
		{"localhost", "", false},
		{"0.0.0.0", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ip, err := loopbackIP(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && ip.String() != tc.want {
				t.Errorf("got %s, want %s", ip, tc.want)
			}
		})
	}
}
