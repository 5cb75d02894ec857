package layout_test

import (
	"slices"
	"strings"
	"testing"
)

// The module's path, and the third-party modules whose reach the rules
// bound: each is a package prefix (the module and everything below it).
const (
	mod       = "github.com/airlockhq/airlock"
	quic      = "github.com/quic-go/quic-go"
	keyring   = "github.com/zalando/go-keyring"
	fsnotify  = "github.com/fsnotify/fsnotify"
	socks5    = "github.com/things-go/go-socks5"
	bbolt     = "go.etcd.io/bbolt"
	chromedp  = "github.com/chromedp/chromedp"
	systray   = "fyne.io/systray"
	nfpm      = "github.com/goreleaser/nfpm/v2"
	zitadelOP = "github.com/zitadel/oidc/v3/pkg/op"
)

// rule bans packages (by prefix) from one package's non-test dependency
// graph on every GOOS in goosList, and may name packages it must link.
type rule struct {
	pkg  string // relative to mod
	why  string
	bans []string
	want []string // relative to mod
}

// heavy is what the laptop's light parts (the tray, the CLI, the config
// and control API types) must never link: the transport, the keychain,
// file watching, the SOCKS server, the edge's database and the test
// browser driver.
var heavy = []string{quic, keyring, fsnotify, socks5, bbolt, chromedp, nfpm, zitadelOP}

func rules() []rule {
	daemonCore := []string{mod + "/daemon/core", mod + "/daemon/kubeconfig", mod + "/daemon/socks", mod + "/daemon/signin", mod + "/internal/edgeclient"}
	servers := []string{mod + "/edge", mod + "/edge/oauth", mod + "/connector"}
	return []rule{
		// The shipped binaries.
		{pkg: "tray/cmd/airlock", why: "the program users install (tray, daemon, CLI)",
			bans: concat([]string{bbolt, chromedp, nfpm, zitadelOP}, servers),
			want: []string{"tray/app", "daemon/cli", "daemon"}},
		{pkg: "edge/cmd/airlock-edge", why: "the edge server",
			bans: concat([]string{systray, keyring, socks5, chromedp, nfpm, mod + "/daemon", mod + "/tray", mod + "/connector"}),
			want: []string{"edge"}},
		{pkg: "connector/cmd/airlock-connector", why: "the connector beside a cluster",
			bans: concat([]string{systray, keyring, socks5, bbolt, chromedp, nfpm, zitadelOP, mod + "/daemon", mod + "/tray"}, servers[:2]),
			want: []string{"connector"}},
		{pkg: "packaging/cmd/airlock-dist", why: "the release builder",
			bans: []string{quic, keyring, systray, socks5, bbolt, chromedp, mod + "/daemon", mod + "/edge", mod + "/connector", mod + "/tray"}},
		// The light packages.
		{pkg: "tray/app", why: "the tray reaches the daemon only through the control API client",
			bans: concat(heavy, daemonCore, []string{mod + "/daemon/cli"}),
			want: []string{"daemon/client"}},
		{pkg: "daemon/cli", why: "the daemon's command line talks to the daemon over its control API",
			bans: concat(heavy, daemonCore, []string{systray, mod + "/tray"}),
			want: []string{"daemon/client", "daemon/config"}},
		{pkg: "daemon/config", why: "the config is read by the CLI and the tray too",
			bans: concat(heavy, daemonCore, []string{systray})},
		{pkg: "daemon/client", why: "the control API client is linked by the tray and the CLI",
			bans: concat(heavy, daemonCore, []string{systray})},
		{pkg: "daemon/apitype", why: "the control API's types",
			bans: concat(heavy, daemonCore, []string{systray})},
	}
}

// layers says, for each area of the tree, which areas its non-test
// packages may import: imports point down. internal/ is shared by all and
// imports no area; internal/systest sits on top of everything.
var layers = map[string][]string{
	"internal":         {"internal"},
	"edge":             {"edge", "internal"},
	"connector":        {"connector", "internal"},
	"daemon":           {"daemon", "internal"},
	"tray":             {"tray", "daemon", "assets", "internal"},
	"assets":           {"assets"},
	"packaging":        {"packaging", "assets", "internal"},
	"internal/systest": {"internal/systest", "internal", "edge", "connector", "daemon", "tray", "assets"},
}

// TestLayout lists the module once per GOOS Airlock ships for (linux,
// darwin, windows) and checks on each: the rules of every binary and light
// package (deps), the layers and the harness ban (imports point down), and
// the protocol's leaf rule (wire is a leaf). It fails when a rule names a
// package that no longer exists: a banned package renamed would otherwise
// make the rule pass vacuously.
func TestLayout(t *testing.T) {
	rs := rules()
	lists := map[string]map[string]pkg{}
	for _, goos := range goosList {
		lists[goos] = listModule(t, goos)
	}
	var banned []string
	for _, r := range rs {
		banned = append(banned, r.bans...)
	}
	checkExist(t, banned, lists["linux"])
	for _, goos := range goosList {
		pkgs := lists[goos]
		t.Run(goos, func(t *testing.T) {
			t.Run("deps", func(t *testing.T) { checkRules(t, rs, pkgs) })
			t.Run("imports point down", func(t *testing.T) { checkLayers(t, pkgs) })
			t.Run("wire is a leaf", func(t *testing.T) { checkWireLeaf(t, pkgs) })
		})
	}
}

// checkRules checks each rule's bans and wants against pkgs.
func checkRules(t *testing.T, rs []rule, pkgs map[string]pkg) {
	for _, r := range rs {
		t.Run(r.pkg, func(t *testing.T) {
			p, ok := pkgs[mod+"/"+r.pkg]
			if !ok {
				t.Fatalf("%s does not exist (%s): update the rule", r.pkg, r.why)
			}
			for _, dep := range p.deps {
				for _, bad := range r.bans {
					if under(dep, bad) {
						t.Errorf("%s links %s (%s)", r.pkg, dep, r.why)
					}
				}
			}
			for _, w := range r.want {
				if !slices.Contains(p.deps, mod+"/"+w) {
					t.Errorf("%s does not link %s (%s)", r.pkg, w, r.why)
				}
			}
		})
	}
}

// checkLayers checks the layers on every package of the module, and keeps
// test harnesses (internal/testenv, internal/systest, packages named …test
// and fake…) out of every other package's non-test graph.
func checkLayers(t *testing.T, pkgs map[string]pkg) {
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for path, p := range pkgs {
		rel := strings.TrimPrefix(path, mod+"/")
		area := areaOf(rel)
		allowed, ok := layers[area]
		if !ok {
			t.Errorf("%s is in no known area: add %q to layers and ARCHITECTURE.md", rel, area)
			continue
		}
		for _, imp := range p.imports {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			irel := strings.TrimPrefix(imp, mod+"/")
			if !slices.Contains(allowed, areaOf(irel)) {
				t.Errorf("%s (area %s) imports %s (area %s): imports point down, see ARCHITECTURE.md", rel, area, irel, areaOf(irel))
			}
		}
		if isHarness(rel) {
			continue
		}
		for _, dep := range p.deps {
			if strings.HasPrefix(dep, mod+"/") && isHarness(strings.TrimPrefix(dep, mod+"/")) {
				t.Errorf("%s links the test harness %s", rel, strings.TrimPrefix(dep, mod+"/"))
			}
		}
	}
}

// checkWireLeaf keeps the protocol package free of everything but the
// standard library: no transport, no file IO helpers, no build stamp.
func checkWireLeaf(t *testing.T, pkgs map[string]pkg) {
	p, ok := pkgs[mod+"/internal/wire"]
	if !ok {
		t.Fatal("internal/wire does not exist")
	}
	for _, dep := range p.deps {
		if first, _, _ := strings.Cut(dep, "/"); strings.Contains(first, ".") {
			t.Errorf("internal/wire links %s: the protocol is standard library only", dep)
		}
	}
}

// areaOf names the layer a module-relative package path belongs to.
func areaOf(rel string) string {
	if rel == "internal/systest" || strings.HasPrefix(rel, "internal/systest/") {
		return "internal/systest"
	}
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// isHarness reports whether a module-relative package exists only for
// tests: internal/testenv, internal/layout, everything in internal/systest,
// packages named …test and stand-ins named fake….
func isHarness(rel string) bool {
	if areaOf(rel) == "internal/systest" || rel == "internal/testenv" || strings.HasPrefix(rel, "internal/layout") {
		return true
	}
	last := rel[strings.LastIndex(rel, "/")+1:]
	return strings.HasSuffix(last, "test") || strings.HasPrefix(last, "fake")
}

func under(dep, prefix string) bool {
	return dep == prefix || strings.HasPrefix(dep, prefix+"/")
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
