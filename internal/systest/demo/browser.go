package demo

import (
	"errors"
	"fmt"
	"os"
)

// Browser says who signs in when the daemon asks for a sign-in.
type Browser string

// The browsers.
const (
	// BrowserAuto picks BrowserSystem in a desktop session ($DISPLAY or
	// $WAYLAND_DISPLAY, with xdg-open), else BrowserChromium when Chromium
	// is installed, else BrowserForm.
	BrowserAuto Browser = "auto"
	// BrowserSystem opens the edge's login page in the person's own
	// browser (xdg-open); the person signs in with the printed password.
	BrowserSystem Browser = "system"
	// BrowserChromium: the demo drives headless Chromium through the
	// login page itself.
	BrowserChromium Browser = "chromium"
	// BrowserForm: the demo fills in the login form over HTTP.
	BrowserForm Browser = "form"
	// BrowserNone: the daemon has no browser and uses the device flow; the
	// demo prints the URL and the code and waits for the person.
	BrowserNone Browser = "none"
)

// DefaultChromium is where Debian's chromium package installs the browser.
const DefaultChromium = "/usr/bin/chromium"

// ParseBrowser reads a -browser flag value ("" is auto).
func ParseBrowser(s string) (Browser, error) {
	switch b := Browser(s); b {
	case "":
		return BrowserAuto, nil
	case BrowserAuto, BrowserSystem, BrowserChromium, BrowserForm, BrowserNone:
		return b, nil
	}
	return "", fmt.Errorf("-browser %q: want auto, system, chromium, form or none", s)
}

// String implements flag.Value's half.
func (b Browser) String() string { return string(b) }

// env is what choosing a browser looks at.
type env struct {
	getenv   func(string) string
	lookPath func(string) (string, error)
	chromium string
}

// resolve turns auto into a concrete browser and checks that the chosen
// one can run here. why says what the browser does (and, for auto, what
// decided).
func (e env) resolve(b Browser) (_ Browser, why string, _ error) {
	desktop := ""
	for _, v := range []string{"WAYLAND_DISPLAY", "DISPLAY"} {
		if e.getenv(v) != "" {
			desktop = "$" + v
			break
		}
	}
	_, xdgErr := e.lookPath("xdg-open")
	chromiumErr := executable(e.chromium)
	switch b {
	case BrowserAuto, "":
		switch {
		case desktop != "" && xdgErr == nil:
			return BrowserSystem, "your own browser (auto: a desktop session, " + desktop + ")", nil
		case chromiumErr == nil:
			return BrowserChromium, "the demo drives headless Chromium (auto: no desktop session, Chromium installed)", nil
		default:
			return BrowserForm, "the demo fills in the login form over HTTP (auto: no desktop session, no Chromium)", nil
		}
	case BrowserSystem:
		if xdgErr != nil {
			return "", "", fmt.Errorf("-browser system needs xdg-open (Debian package xdg-utils): %w", xdgErr)
		}
		return b, "your own browser", nil
	case BrowserChromium:
		if chromiumErr != nil {
			return "", "", fmt.Errorf("-browser chromium needs Chromium at %s (Debian package chromium): %w", e.chromium, chromiumErr)
		}
		return b, "the demo drives headless Chromium", nil
	case BrowserForm:
		return b, "the demo fills in the login form over HTTP", nil
	case BrowserNone:
		return b, "the daemon has no browser: the device flow, a URL and a code for you", nil
	}
	return "", "", fmt.Errorf("unknown browser %q", b)
}

// executable checks that path is an executable file.
func executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return errors.New(path + " is not an executable file")
	}
	return nil
}
