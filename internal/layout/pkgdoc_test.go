package layout_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment keeps the rule that every package says what
// it owns: it lists the module's packages and fails on any without a
// package doc comment.
func TestEveryPackageHasADocComment(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "github.com/airlockhq/airlock/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var n int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		n++
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment saying what it owns", path)
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}
