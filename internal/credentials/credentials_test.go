package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

func testCredentials(tb testing.TB) *Credentials {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return &Credentials{
		TunnelID: "t-1", TunnelName: "demo", Secret: "s3cret", Edges: []string{"127.0.0.1:7844"},
		ServerName: "localhost", CAPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
}

func TestWriteCredentials(t *testing.T) {
	c := testCredentials(t)
	t.Run("round trip", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "demo.json")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteCredentials(path, c); err != nil {
			t.Fatal(err)
		}
		got, err := ReadCredentials(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("read back %+v, want %+v", got, c)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
		assertOnlyFile(t, dir, "demo.json")
	})
	t.Run("invalid leaves nothing", func(t *testing.T) {
		dir := t.TempDir()
		bad := *c
		bad.Secret = ""
		if err := WriteCredentials(filepath.Join(dir, "demo.json"), &bad); err == nil {
			t.Fatal("no error for credentials without a secret")
		}
		assertOnlyFile(t, dir)
	})
	t.Run("missing folder", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteCredentials(filepath.Join(dir, "nope", "demo.json"), c); err == nil {
			t.Fatal("no error for a folder that does not exist")
		}
		assertOnlyFile(t, dir)
	})
	t.Run("concurrent writers", func(t *testing.T) {
		// With a fixed temporary name, two writers would write into the
		// same file and one rename would fail or publish a mix.
		dir := t.TempDir()
		path := filepath.Join(dir, "demo.json")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			cc := *c
			cc.TunnelName = "demo" + string(rune('a'+i))
			wg.Go(func() { errs <- WriteCredentials(path, &cc) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if _, err := ReadCredentials(path); err != nil {
			t.Fatal(err)
		}
		assertOnlyFile(t, dir, "demo.json")
	})
}

// assertOnlyFile checks that dir holds exactly the named files: no
// temporary file was left behind.
func assertOnlyFile(tb testing.TB, dir string, names ...string) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) || (len(names) > 0 && !reflect.DeepEqual(got, names)) {
		tb.Fatalf("folder holds %v, want %v", got, names)
	}
}
