package signintest

import (
	"encoding/json"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// PagePath turns the file:// URL a browser was given into the path of the
// daemon's redirect page (the sign-in URL itself never reaches a
// browser's arguments).
func PagePath(tb testing.TB, arg string) string {
	tb.Helper()
	u, err := url.Parse(arg)
	if err != nil || u.Scheme != "file" {
		tb.Fatalf("the browser got %q, not a file:// URL", arg)
	}
	return filepath.FromSlash(u.Path)
}

// RedirectTarget reads where the redirect page at path sends the browser,
// and checks that its meta refresh names the same URL.
func RedirectTarget(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`window\.location\.replace\(("[^"]*")\);`).FindSubmatch(b)
	if m == nil {
		tb.Fatalf("no location.replace in the page:\n%s", b)
	}
	var u string
	if err := json.Unmarshal(m[1], &u); err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(string(b), `content="0;url=`+html.EscapeString(u)+`"`) {
		tb.Errorf("the meta refresh does not name %q:\n%s", u, b)
	}
	return u
}

// Followed is what a browser opened with arg would load: the sign-in URL
// behind the daemon's redirect page. It fails the test when arg carries
// the sign-in URL's secrets itself.
func Followed(tb testing.TB, arg string) string {
	tb.Helper()
	for _, leak := range []string{"state=", "code_challenge", "redirect_uri"} {
		if strings.Contains(arg, leak) {
			tb.Errorf("the browser's argument carries %q: %s", leak, arg)
		}
	}
	return RedirectTarget(tb, PagePath(tb, arg))
}
