package cli_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestStoreURLPasswordRefused runs airlock-edge with a database password on
// its command line, where every local user sees it (ps, /proc/PID/cmdline):
// each form of it is refused with an error that names the way to pass it,
// and the password is never printed back.
func TestStoreURLPasswordRefused(t *testing.T) {
	const pw = "s3cret-Db-pass"
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"migrate, a URL's user info", []string{"migrate", "--store-url", "postgres://airlock:" + pw + "@db.example.com/airlock"}, 2, "--store-url-file"},
		{"migrate, flag=value", []string{"migrate", "--store-url=postgresql://airlock:" + pw + "@db.example.com:5432/airlock?sslmode=verify-full"}, 2, "--store-url-file"},
		{"migrate, a password parameter", []string{"migrate", "--store-url", "postgres://db.example.com/airlock?password=" + pw}, 2, "--store-url-file"},
		{"migrate, a libpq key=value string", []string{"migrate", "--store-url", "host=db.example.com user=airlock password=" + pw}, 2, "--store-url-file"},
		{"migrate, an empty password", []string{"migrate", "--store-url", "postgres://airlock:@db.example.com/airlock"}, 2, "--store-url-file"},
		// serve takes no URL at all: the config's store.url_file names it.
		// (An unknown flag exits 1 today, as every flag parse error does.)
		{"serve", []string{"serve", "--store-url", "postgres://airlock:" + pw + "@db.example.com/airlock"}, 1, "not defined: -store-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d naming %q", code, errOut, tc.code, tc.msg)
			}
			if strings.Contains(out+errOut, pw) {
				t.Fatalf("the password was printed:\n%s%s", out, errOut)
			}
		})
	}
}

// TestURLFlags lists every flag of every airlock-edge command (from the
// usage and each command's -h) that takes a URL. A store URL may come only
// through migrate's --store-url, which TestStoreURLPasswordRefused checks;
// a new URL flag fails here until its author says which it is.
func TestURLFlags(t *testing.T) {
	// The issuer and the public URL are the edge's sign-in URL, the kube
	// server an API server's: none is a database.
	want := []string{"app kube-auth -issuer", "app set -kube-server", "invite -public-url", "migrate -store-url"}
	usage := mustRun(t, "", "-h")
	command := regexp.MustCompile(`(?m)^  ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?: |$)`)
	flagLine := regexp.MustCompile(`(?m)^\s+-([a-z-]+)(?: (\S+))?`)
	var got []string
	n := 0
	for _, m := range command.FindAllStringSubmatch(usage, -1) {
		cmd := m[1]
		if cmd == "version" {
			continue
		}
		n++
		_, _, help := runCmd(t, "", append(strings.Fields(cmd), "-h")...)
		flags := flagLine.FindAllStringSubmatch(help, -1)
		if len(flags) == 0 {
			t.Errorf("%s -h lists no flags:\n%s", cmd, help)
		}
		for _, f := range flags {
			if strings.Contains(f[1], "url") && !strings.HasSuffix(f[1], "-file") || f[2] == "URL" {
				got = append(got, cmd+" -"+f[1])
			}
		}
	}
	if n < 10 {
		t.Fatalf("found %d commands in the usage, want the dozen of them:\n%s", n, usage)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("flags taking a URL: %q, want %q", got, want)
	}
}
