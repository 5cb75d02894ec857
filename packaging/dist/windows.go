package dist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/assets"
	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

// sysoName is the resource object the Go toolchain links into a main
// package built for windows/amd64, and only then.
const sysoName = "rsrc_windows_amd64.syso"

// WindowsResources returns the resources of airlock.exe: the icon (the
// "connected" tray icon, 16 to 256 px), a VERSIONINFO stamped with pv and
// commit, and a manifest (per-monitor DPI aware, common controls 6, runs
// as the invoking user).
func WindowsResources(pv PackageVersion, commit string) (*winres.ResourceSet, error) {
	rs := &winres.ResourceSet{}
	ico, err := assets.ICO(assets.Connected)
	if err != nil {
		return nil, fmt.Errorf("dist: windows icon: %w", err)
	}
	icon, err := winres.LoadICO(bytes.NewReader(ico))
	if err != nil {
		return nil, fmt.Errorf("dist: windows icon: %w", err)
	}
	if err := rs.SetIcon(winres.Name("APP"), icon); err != nil {
		return nil, fmt.Errorf("dist: windows icon: %w", err)
	}

	num := pv.Windows()
	numStr := fmt.Sprintf("%d.%d.%d.%d", num[0], num[1], num[2], num[3])
	vi := version.Info{FileVersion: num, ProductVersion: num}
	for k, v := range map[string]string{
		version.CompanyName:      "Airlock",
		version.ProductName:      "Airlock",
		version.FileDescription:  "Airlock: kubectl access to private Kubernetes clusters",
		version.InternalName:     "airlock",
		version.OriginalFilename: "airlock.exe",
		version.LegalCopyright:   "Airlock authors",
		version.FileVersion:      numStr,
		version.ProductVersion:   pv.String(),
		version.Comments:         "commit " + commit,
	} {
		if err := vi.Set(version.LangDefault, k, v); err != nil {
			return nil, fmt.Errorf("dist: windows version info %s: %w", k, err)
		}
	}
	rs.SetVersionInfo(vi)
	rs.SetManifest(winres.AppManifest{
		Description:         "Airlock",
		ExecutionLevel:      winres.AsInvoker,
		DPIAwareness:        winres.DPIPerMonitorV2,
		UseCommonControlsV6: true,
		LongPathAware:       true,
		Compatibility:       winres.Win10AndAbove,
	})
	return rs, nil
}

// withWindowsResources writes the .syso for p into its main package's
// folder, runs build, and removes the .syso again. The file only ever
// matters to windows/amd64 builds.
func (o *Options) withWindowsResources(p program, pv PackageVersion, build func() error) (err error) {
	rs, err := WindowsResources(pv, o.Commit)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := rs.WriteObject(&buf, winres.ArchAMD64); err != nil {
		return fmt.Errorf("dist: windows resources: %w", err)
	}
	syso := filepath.Join(o.Root, filepath.FromSlash(p.pkg), sysoName)
	if err := os.WriteFile(syso, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("dist: windows resources: %w", err)
	}
	defer func() {
		if rerr := os.Remove(syso); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("dist: remove %s: %w", syso, rerr)
		}
	}()
	return build()
}

// checkWindowsResources fails when exe lacks its version info or icon (a
// concurrent build removed the .syso, say).
func checkWindowsResources(exe string) error {
	f, err := os.Open(exe)
	if err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	defer f.Close()
	rs, err := winres.LoadFromEXE(f)
	if err != nil {
		return fmt.Errorf("dist: %s: read resources: %w", filepath.Base(exe), err)
	}
	if rs.Get(winres.RT_VERSION, winres.ID(1), version.LangDefault) == nil {
		return fmt.Errorf("dist: %s has no version resource: was %s removed during the build?", filepath.Base(exe), sysoName)
	}
	if _, err := rs.GetIcon(winres.Name("APP")); err != nil {
		return fmt.Errorf("dist: %s has no icon: %w", filepath.Base(exe), err)
	}
	return nil
}
