package signin

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestSignInURLNotInArgv is issue 10's login CSRF: the browser used to be
// started with the authorization URL in its arguments, which every local
// user reads in /proc/PID/cmdline (ps), and with the state, the PKCE
// challenge and the callback port from there another user delivered their
// own sign-in to the victim's daemon. The real browser path runs here with
// a fake browser program: what any user could read of its process (its
// argv, and /proc/PID/cmdline on Linux) holds none of those, only a
// file:// URL of a 0600 page in a 0700 folder; the page takes a browser on
// to the authorization URL, and the sign-in completes through it; the page
// is gone once the sign-in is over.
func TestSignInURLNotInArgv(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	if err := os.Mkdir(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	// The fake browser records its own command line as the kernel shows it
	// to other users, then its argv (last: the test waits for that file).
	script := filepath.Join(dir, "browser.sh")
	body := "#!/bin/sh\n" +
		"if [ -r /proc/$$/cmdline ]; then cat /proc/$$/cmdline > '" + rec + "/cmdline.tmp' && mv '" + rec + "/cmdline.tmp' '" + rec + "/cmdline'; fi\n" +
		"for a in \"$0\" \"$@\"; do printf '%s\\0' \"$a\"; done > '" + rec + "/argv.tmp' && mv '" + rec + "/argv.tmp' '" + rec + "/argv'\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	pages := filepath.Join(dir, "airlock") // as $XDG_RUNTIME_DIR/airlock
	r := newRig(t, rigOptions{browser: Command{Args: []string{script, "--new-window"}, Dir: pages}})
	ctx := ctxT(t)

	si, err := r.m.Login(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if si.State != apitype.SignInNeeded || !si.BrowserOpened || si.URL == "" {
		t.Fatalf("sign-in = %+v, want one waiting with the browser opened", si)
	}
	authorize, err := url.Parse(si.URL)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := url.Parse(authorize.Query().Get("redirect_uri"))
	if err != nil || callback.Port() == "" {
		t.Fatalf("redirect_uri %q", authorize.Query().Get("redirect_uri"))
	}
	port := callback.Port()
	var argv []byte
	testenv.Eventually(t, "the fake browser's record", func() bool {
		argv, err = os.ReadFile(filepath.Join(rec, "argv"))
		return err == nil
	})

	// What another user sees of the browser process.
	seen := map[string][]byte{"argv": argv}
	if runtime.GOOS == "linux" {
		cmdline, err := os.ReadFile(filepath.Join(rec, "cmdline"))
		if err != nil {
			t.Fatalf("no /proc/PID/cmdline record: %v", err)
		}
		seen["/proc/PID/cmdline"] = cmdline
	}
	for what, b := range seen {
		for _, secret := range []string{"state=", "code_challenge", "redirect_uri", "127.0.0.1", ":" + port, "%3A" + port, authorize.Host} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the browser's %s holds %q: %q", what, secret, b)
			}
		}
	}
	args := strings.Split(strings.TrimSuffix(string(argv), "\x00"), "\x00")
	if len(args) != 3 || args[1] != "--new-window" {
		t.Fatalf("argv = %q, want the script, its flag and one page", args)
	}
	page := signintest.PagePath(t, args[2])

	t.Run("page is private", func(t *testing.T) {
		st, err := os.Lstat(page)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Errorf("page %s: %v, want a regular 0600 file", page, st.Mode())
		}
		dst, err := os.Lstat(filepath.Dir(page))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(page) != pages || !dst.IsDir() || dst.Mode().Perm() != 0o700 {
			t.Errorf("folder %s: %v, want %s, a 0700 folder", filepath.Dir(page), dst.Mode(), pages)
		}
	})

	// A browser follows the page; the sign-in completes through it.
	target := signintest.RedirectTarget(t, page)
	if target != si.URL {
		t.Fatalf("the page sends the browser to %q, want the authorization URL %q", target, si.URL)
	}
	r.browser.follow(target)
	testenv.Eventually(t, "signed in", func() bool {
		s := r.m.SignIn()
		return s.State == apitype.SignInSignedIn && s.Email == "alice@example.com"
	})
	testenv.Eventually(t, "the page removed once the sign-in is over", func() bool {
		return len(pagesIn(t, pages)) == 0
	})
}
