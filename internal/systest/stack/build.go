package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Programs are the binaries a stack runs, by file name, with their packages.
var programs = [...]struct{ name, pkg string }{
	{"airlock", "./tray/cmd/airlock"},
	{"airlock-edge", "./edge/cmd/airlock-edge"},
	{"airlock-connector", "./connector/cmd/airlock-connector"},
}

// Build compiles the three Airlock programs into dir. With race set they are
// built with the race detector, so end-to-end tests catch races in the real
// processes too.
func Build(ctx context.Context, dir string, race bool) error {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-o", dir + string(os.PathSeparator)}
	if race {
		args = append(args, "-race")
	}
	for _, p := range programs {
		args = append(args, p.pkg)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build airlock programs: %w\n%s", err, out)
	}
	for _, p := range programs {
		if _, err := os.Stat(filepath.Join(dir, p.name)); err != nil {
			return fmt.Errorf("build airlock programs: %w", err)
		}
	}
	return nil
}

// ModuleRoot returns the folder of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module root: not inside the airlock module")
	}
	return filepath.Dir(gomod), nil
}
