package kubeconfig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gen builds a kubeconfig from fuzz bytes: line endings, indentation, list style,
// quoting, comments, blank lines, key order, existing proxy-urls and extensions vary.
type gen struct {
	in []byte
	b  strings.Builder
}

func (g *gen) n(k int) int {
	if len(g.in) == 0 {
		return 0
	}
	v := int(g.in[0]) % k
	g.in = g.in[1:]
	return v
}

func (g *gen) quote(s string) string {
	switch g.n(3) {
	case 1:
		return "'" + s + "'"
	case 2:
		return `"` + s + `"`
	}
	return s
}

func generate(in []byte) (string, []string) {
	g := &gen{in: in}
	eol := []string{"\n", "\r\n"}[g.n(2)]
	unit := []string{"  ", "    ", "   "}[g.n(3)]
	seqIndent := []string{"", unit}[g.n(2)]
	comment := func(ind string) {
		if g.n(4) == 0 {
			g.b.WriteString(ind + "# a comment" + eol)
		}
		if g.n(6) == 0 {
			g.b.WriteString(eol)
		}
	}
	trail := func() string {
		if g.n(4) == 0 {
			return "   # trailing"
		}
		return ""
	}
	comment("")
	g.b.WriteString("apiVersion: v1" + eol)
	g.b.WriteString("clusters:" + trail() + eol)
	names := []string{"prod", "dev", "gke_p_eu_x", "kind-kind"}[:1+g.n(4)]
	for _, name := range names {
		comment(seqIndent)
		item := seqIndent + "- "
		body := seqIndent + "  "
		ci := body + unit
		writeName := func(prefix string) { g.b.WriteString(prefix + "name: " + g.quote(name) + trail() + eol) }
		nameFirst := g.n(2) == 0
		if nameFirst {
			writeName(item)
			g.b.WriteString(body + "cluster:" + trail() + eol)
		} else {
			g.b.WriteString(item + "cluster:" + trail() + eol)
		}
		keys := []func(){
			func() { g.b.WriteString(ci + "server: " + g.quote("https://10.0.0.1:6443") + trail() + eol) },
		}
		if g.n(2) == 0 {
			keys = append(keys, func() { g.b.WriteString(ci + "certificate-authority-data: Zm9vYmFy" + eol) })
		}
		if g.n(3) == 0 {
			keys = append(keys, func() { g.b.WriteString(ci + "proxy-url: " + g.quote("http://corp:3128") + trail() + eol) })
		}
		if g.n(3) == 0 {
			keys = append(keys, func() {
				extSeq := ci + []string{"", unit}[g.n(2)]
				g.b.WriteString(ci + "extensions:" + eol)
				for i := range 1 + g.n(2) {
					g.b.WriteString(extSeq + "- name: ext" + fmt.Sprint(i) + eol)
					g.b.WriteString(extSeq + "  extension:" + eol)
					comment(extSeq + "    ")
					g.b.WriteString(extSeq + "    k: " + g.quote("v") + eol)
				}
			})
		}
		for i := len(keys) - 1; i > 0; i-- {
			j := g.n(i + 1)
			keys[i], keys[j] = keys[j], keys[i]
		}
		for _, k := range keys {
			comment(ci)
			k()
		}
		if !nameFirst {
			comment(body)
			writeName(body)
		}
	}
	comment("")
	g.b.WriteString("contexts:" + eol + seqIndent + "- name: c" + eol + seqIndent + "  context: {cluster: prod, user: u}" + eol)
	g.b.WriteString("current-context: c" + trail() + eol)
	g.b.WriteString("users:" + eol + seqIndent + "- name: u" + eol + seqIndent + "  user:" + eol + seqIndent + "    token: t" + eol)
	comment("")
	out := g.b.String()
	if g.n(3) == 0 {
		out = strings.TrimRight(out, "\r\n")
	}
	return out, names
}

// FuzzRoundTrip: on generated kubeconfigs, connect, reconnect with another URL and
// disconnect every entry: each step parses and means what it should, and the end
// gives back the original byte for byte.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range [][]byte{{}, {1, 1, 1, 0, 3, 0, 0, 2}, {0, 2, 1, 3, 3, 1, 0, 0, 0, 1, 2, 2, 2, 1}, bytes.Repeat([]byte{1}, 64), bytes.Repeat([]byte{0, 5, 3, 7, 2}, 30)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		src, names := generate(in)
		d, err := parseDocument([]byte(src))
		if err != nil {
			t.Fatalf("generated file does not parse: %v\n%s", err, src)
		}
		for i := range names {
			url := "socks5://airlock:pw@127.0.0.2:1080"
			out, err := editEntry([]byte(src), d.clusters[i], true, "prod", url)
			if err != nil {
				t.Fatalf("connect %s: %v\n%s", names[i], err, src)
			}
			assertEntry(t, out, i, url, true)
			url2 := "socks5://airlock:other@127.0.0.3:1080"
			out, err = editEntry(out, d.clusters[i], true, "prod", url2)
			if err != nil {
				t.Fatalf("reconnect %s: %v\n%s", names[i], err, out)
			}
			assertEntry(t, out, i, url2, true)
			back, err := editEntry(out, d.clusters[i], false, "", "")
			if err != nil {
				t.Fatalf("disconnect %s: %v\n%s", names[i], err, out)
			}
			if string(back) != src {
				t.Fatalf("not given back byte for byte:\n%q\nwant\n%q", back, src)
			}
		}
	})
}

func assertEntry(t *testing.T, out []byte, i int, url string, recorded bool) {
	t.Helper()
	d, err := parseDocument(out)
	if err != nil {
		t.Fatalf("result does not parse: %v\n%s", err, out)
	}
	e := d.clusters[i]
	if e.proxyVal == nil || e.proxyVal.Value != url || (e.rec != nil) != recorded {
		t.Fatalf("entry %d: proxy-url/record not as expected:\n%s", i, out)
	}
}

// FuzzEditArbitrary: on any bytes, editing never panics, refuses what does not parse,
// and whatever connect produces parses and disconnects back to the input exactly.
func FuzzEditArbitrary(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/golden/*.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"", "clusters:\n- name: prod\n  cluster:\n    server: x\n", "clusters: [", "{}", "- a", "clusters:\n- name: prod\n  cluster:\n    # c\n    proxy-url: |\n      x\n", "\xef\xbb\xbfclusters:\n- cluster:\n    server: y\n  name: prod\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := parseDocument(in)
		if err != nil {
			if !isErr(err, ErrParse) {
				t.Fatalf("parse error is not ErrParse: %v", err)
			}
			return
		}
		for _, e := range d.clusters {
			out, err := editEntry(in, e, true, "prod", "socks5://a:b@127.0.0.2:1080")
			if err != nil {
				continue
			}
			nd, err := parseDocument(out)
			if err != nil {
				t.Fatalf("connect produced a file that does not parse: %v\n%q", err, out)
			}
			if e.rec != nil {
				continue // it had a record: the round trip starts from the stripped file
			}
			back, err := nd.strip(nd.clusters[e.index])
			if err != nil || !bytes.Equal(back, in) {
				t.Fatalf("disconnect did not give back the input (%v):\n%q\n%q", err, back, in)
			}
		}
	})
}

// FuzzConnectArbitrary: through the Syncer and a real file, bytes that do not parse
// are never written, and nothing is left beside the file.
func FuzzConnectArbitrary(f *testing.F) {
	for _, s := range []string{simple, "clusters: [", "\xff\xfe", "clusters:\n- name: prod\n  cluster: {server: x}\n", "kind: Config\nkind: Config\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "config")
		if err := os.WriteFile(p, in, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := New(nil, Options{Paths: []string{p}, LockTimeout: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Connect(context.Background(), prodTarget, testProxy)
		got, rerr := os.ReadFile(p)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if _, perr := parseDocument(in); perr != nil {
			if !bytes.Equal(got, in) || !isErr(err, ErrParse) {
				t.Fatalf("unparseable input: err %v, written %v", err, !bytes.Equal(got, in))
			}
		} else if _, perr := parseDocument(got); perr != nil {
			t.Fatalf("wrote a file that does not parse: %v", perr)
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Fatalf("left beside the file: %v", left)
		}
	})
}
