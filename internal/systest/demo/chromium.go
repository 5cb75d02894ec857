package demo

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/chromedp/chromedp"
)

// ChromiumSignIn drives headless Chromium through the edge's login page at
// signInURL and returns where it ended (the daemon's loopback callback)
// and that page's title. Chromium resolves the edge's public name to its
// address and trusts the edge's certificate by its key, for this run only;
// profile is a fresh folder for its profile, removed afterwards; step is
// told each stage as it starts. The end-to-end tests use it too.
func ChromiumSignIn(ctx context.Context, chromium, profile string, s *stack.Stack, signInURL, email, password string, step func(string, ...any)) (loc, title string, err error) {
	spki, err := edgeSPKI(filepath.Join(s.EdgeDir, "edge.crt"))
	if err != nil {
		return "", "", err
	}
	au, err := url.Parse(s.AuthURL)
	if err != nil {
		return "", "", fmt.Errorf("the edge's sign-in address %q: %w", s.AuthURL, err)
	}
	if err := os.MkdirAll(profile, 0o700); err != nil {
		return "", "", err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		// Headless, loading only the demo edge's page: no sandbox, which
		// needs user namespaces or a setuid helper (and refuses root).
		chromedp.NoSandbox,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP "+stack.EdgeServerName+" "+au.Hostname()),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	cctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()

	step("opening the edge's login page in headless Chromium…")
	if err := chromedp.Do(cctx,
		chromedp.Navigate(signInURL),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		return "", "", fmt.Errorf("chromium: the login page: %w", err)
	}
	step("signing in as %s…", email)
	if err := chromedp.Do(cctx,
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("message")),
	); err != nil {
		return "", "", fmt.Errorf("chromium: signing in: %w", err)
	}
	if loc, err = chromedp.Run(cctx, chromedp.Location()); err != nil {
		return "", "", fmt.Errorf("chromium: %w", err)
	}
	if title, err = chromedp.Run(cctx, chromedp.Text(chromedp.ID("title"))); err != nil {
		return loc, "", fmt.Errorf("chromium: %w", err)
	}
	return loc, title, nil
}

// edgeSPKI is the base64 SHA-256 of the certificate's public key, as
// Chromium's ignore-certificate-errors-spki-list takes it.
func edgeSPKI(certFile string) (string, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("the edge's certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "", errors.New("the edge's certificate: no PEM block in " + certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("the edge's certificate: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
