package dist

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"

	"github.com/airlockhq/airlock/internal/testenv"
)

// TestWindows builds airlock.exe as `make dist` does, checks its version
// resource and icon, and signs it with a throw-away self-signed
// certificate in each form osslsigncode takes (PEM key, encrypted key with
// a password, PKCS#12): `osslsigncode verify` must accept each signature,
// trusting only that certificate, and refuse the file once a byte changes.
func TestWindows(t *testing.T) {
	osslsigncode := testenv.LookPath(t, "osslsigncode", "apt-get install osslsigncode")
	openssl := testenv.LookPath(t, "openssl", "apt-get install openssl")
	dir := t.TempDir()
	cert, key := selfSignedCodeSigning(t, dir)
	const password = "correct horse battery staple"
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	encKey := filepath.Join(dir, "key.enc.pem")
	run(t, openssl, "pkey", "-in", key, "-aes256", "-passout", "file:"+pwFile, "-out", encKey)
	p12 := filepath.Join(dir, "cert.p12")
	run(t, openssl, "pkcs12", "-export", "-in", cert, "-inkey", key, "-passout", "file:"+pwFile, "-out", p12)

	windows := []Target{{"windows", "amd64"}}
	signedRes, signedOut := build(t, windows, nil, &SignOptions{Cert: cert, Key: key})
	_, unsignedOut := build(t, windows, nil, nil)
	if got := signedRes.Paths(); !sameSet(got, []string{"windows-amd64/airlock.exe", SumsFile}) {
		t.Fatalf("artefacts %v", got)
	}
	unsigned := filepath.Join(unsignedOut, "windows-amd64", "airlock.exe")

	verify := func(t *testing.T, exe string) error {
		t.Helper()
		out, err := exec.Command(osslsigncode, "verify", "-in", exe, "-CAfile", cert).CombinedOutput()
		if err == nil && !strings.Contains(string(out), "Signature verification: ok") {
			t.Fatalf("osslsigncode verify exited 0 without an ok:\n%s", out)
		}
		if err != nil {
			t.Logf("osslsigncode verify %s: %v\n%s", filepath.Base(exe), err, lastLines(string(out), 8))
		}
		return err
	}

	t.Run("resources", func(t *testing.T) {
		for _, exe := range []string{unsigned, filepath.Join(signedOut, "windows-amd64", "airlock.exe")} {
			checkResources(t, exe)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		if verify(t, unsigned) == nil {
			t.Error("osslsigncode verify accepts the unsigned build")
		}
	})
	t.Run("make dist signature", func(t *testing.T) {
		exe := filepath.Join(signedOut, "windows-amd64", "airlock.exe")
		if err := verify(t, exe); err != nil {
			t.Fatal("the signature of the dist build does not verify")
		}
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0xff
		tampered := filepath.Join(t.TempDir(), "airlock.exe")
		if err := os.WriteFile(tampered, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if verify(t, tampered) == nil {
			t.Error("osslsigncode verify accepts a changed file")
		}
	})
	for _, tc := range []struct {
		name string
		s    SignOptions
	}{
		{"encrypted key", SignOptions{Cert: cert, Key: encKey, Password: password}},
		{"pkcs12", SignOptions{PKCS12: p12, Password: password}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "airlock.exe")
			b, err := os.ReadFile(unsigned)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(exe, b, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.s.sign(context.Background(), exe); err != nil {
				t.Fatal(err)
			}
			if err := verify(t, exe); err != nil {
				t.Fatal("signature does not verify")
			}
			checkResources(t, exe)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		exe := filepath.Join(t.TempDir(), "airlock.exe")
		b, err := os.ReadFile(unsigned)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		s := SignOptions{PKCS12: p12, Password: "wrong"}
		if err := s.sign(context.Background(), exe); err == nil || !strings.Contains(err.Error(), "osslsigncode") {
			t.Fatalf("error %v, want one from osslsigncode", err)
		}
		after, err := os.ReadFile(exe)
		if err != nil || string(after) != string(b) {
			t.Errorf("a failed signing changed the file (%v)", err)
		}
	})
}

// checkResources checks the version resource (stamped version and commit)
// and the icon of exe.
func checkResources(t *testing.T, exe string) {
	t.Helper()
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := winres.LoadFromEXE(f)
	if err != nil {
		t.Fatalf("%s: %v", exe, err)
	}
	vi, err := version.FromBytes(rs.Get(winres.RT_VERSION, winres.ID(1), version.LangDefault))
	if err != nil {
		t.Fatalf("%s: version resource: %v", exe, err)
	}
	if vi.FileVersion != [4]uint16{1, 2, 3, 0} || vi.ProductVersion != [4]uint16{1, 2, 3, 0} {
		t.Errorf("fixed versions %v %v, want 1.2.3.0", vi.FileVersion, vi.ProductVersion)
	}
	js, err := json.Marshal(vi)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ProductVersion":"` + testPkgVersion + `"`, `"OriginalFilename":"airlock.exe"`, testCommit} {
		if !strings.Contains(string(js), want) {
			t.Errorf("version resource lacks %s: %s", want, js)
		}
	}
	icon, err := rs.GetIcon(winres.Name("APP"))
	if err != nil {
		t.Fatalf("icon: %v", err)
	}
	ico := filepath.Join(t.TempDir(), "app.ico")
	out, err := os.Create(ico)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := icon.SaveICO(out); err != nil {
		t.Fatal(err)
	}
	if fi, err := out.Stat(); err != nil || fi.Size() < 1000 {
		t.Errorf("icon of %d bytes (%v)", fi.Size(), err)
	}
}

// selfSignedCodeSigning writes a throw-away self-signed code-signing
// certificate and its key (PEM) into dir.
func selfSignedCodeSigning(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Airlock test code signing", Organization: []string{"Airlock tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
