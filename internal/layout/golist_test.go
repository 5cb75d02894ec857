package layout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goosList is every GOOS Airlock ships for.
var goosList = []string{"linux", "darwin", "windows"}

// pkg is what the rules read of one package: its direct imports and its
// whole non-test dependency graph.
type pkg struct {
	imports, deps []string
}

// listModule runs `go list` over the module for goos, with cgo as the
// release builds it (on for darwin's tray, off elsewhere).
func listModule(tb testing.TB, goos string) map[string]pkg {
	tb.Helper()
	cgo := "0"
	if goos == "darwin" {
		cgo = "1"
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", mod+"/...")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED="+cgo)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go list for %s: %v\n%s", goos, err, stderr.Bytes())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath    string
			Imports, Deps []string
			Error         *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			tb.Fatalf("go list for %s: decode: %v", goos, err)
		}
		if p.Error != nil {
			tb.Errorf("go list for %s: %s: %s", goos, p.ImportPath, p.Error.Err)
		}
		pkgs[p.ImportPath] = pkg{imports: p.Imports, deps: p.Deps}
	}
	return pkgs
}

// checkExist fails for each banned prefix that names nothing: a rule that
// bans a package which was renamed, moved or dropped from go.mod would pass
// without checking anything. A prefix inside the module must have a
// package at or under it in modulePkgs; one outside must be a package that
// `go list` finds.
func checkExist(tb testing.TB, banned []string, modulePkgs map[string]pkg) {
	tb.Helper()
	var external []string
	for _, b := range banned {
		if !under(b, mod) {
			if !slices.Contains(external, b) {
				external = append(external, b)
			}
			continue
		}
		found := false
		for p := range modulePkgs {
			if under(p, b) {
				found = true
				break
			}
		}
		if !found {
			tb.Errorf("a rule bans %s, where the module has no package: the rule would pass vacuously; update it", b)
		}
	}
	cmd := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Error"}, external...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	listed := 0
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			tb.Fatalf("go list: decode: %v", err)
		}
		listed++
		if p.Error != nil {
			tb.Errorf("a rule bans %s, which does not exist (%s): the rule would pass vacuously; update it", p.ImportPath, strings.TrimSpace(p.Error.Err))
		}
	}
	if listed != len(external) {
		tb.Errorf("go list answered for %d of %d banned packages", listed, len(external))
	}
}
