package dist

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// pkgFile is one file a package installs. Exactly one of src, bin and gen
// says where its bytes come from.
type pkgFile struct {
	dst    string                 // installed path
	src    string                 // path relative to the module root
	bin    string                 // a program built for the package's target
	gen    func() ([]byte, error) // generated content
	mode   os.FileMode
	config bool // a configuration file the admin edits: kept on upgrade, removed on purge
}

// pkgScripts fill in the maintainer script templates in packaging/linux/scripts.
type pkgScripts struct {
	Package   string // also the unit, sysusers.d and tmpfiles.d name
	User      string
	Comment   string
	Home      string
	StateDir  string // created by tmpfiles.d; removed on purge when empty
	ConfigDir string // removed on purge when empty
}

// pkgSpec is one Linux package.
type pkgSpec struct {
	name        string
	summary     string // first line of the description
	description string
	recommends  []string
	files       []pkgFile
	scripts     *pkgScripts
}

// packages are the three Linux packages: the end user's airlock (tray,
// daemon and CLI) and the two server programs.
func packages() []pkgSpec {
	doc := func(pkg string) pkgFile {
		return pkgFile{src: "README.md", dst: "/usr/share/doc/" + pkg + "/README.md", mode: 0o644}
	}
	airlock := pkgSpec{
		name:    "airlock",
		summary: "kubectl access to private Kubernetes clusters, without a VPN",
		description: "Airlock runs one SOCKS5 proxy per cluster on its own loopback address, signs you in\n" +
			"through your company's SSO and points proxy-url in your kubeconfig at it. This package\n" +
			"has the airlock program (tray, daemon and CLI), its systemd user unit, the desktop\n" +
			"entry and the autostart entry for the tray.",
		recommends: []string{"xdg-utils"},
		files: []pkgFile{
			{bin: "airlock", dst: "/usr/bin/airlock", mode: 0o755},
			{src: "packaging/systemd/airlock.service", dst: "/usr/lib/systemd/user/airlock.service", mode: 0o644},
			{src: "packaging/linux/airlock.desktop", dst: "/usr/share/applications/airlock.desktop", mode: 0o644},
			{src: "packaging/linux/airlock-autostart.desktop", dst: "/etc/xdg/autostart/airlock.desktop", mode: 0o644, config: true},
			doc("airlock"),
		},
	}
	for _, size := range IconSizes() {
		airlock.files = append(airlock.files, pkgFile{
			gen:  func() ([]byte, error) { return AppIconPNG(size) },
			dst:  fmt.Sprintf("/usr/share/icons/hicolor/%dx%d/apps/airlock.png", size, size),
			mode: 0o644,
		})
	}
	edge := pkgSpec{
		name:    "airlock-edge",
		summary: "Airlock edge: identity and policy for every connection to a private cluster",
		description: "The edge users and connectors dial (QUIC, UDP 7844). It checks the token and the\n" +
			"app's policy on every stream and routes it to a connector. Runs as a systemd service\n" +
			"(airlock-edge.service) with its state in /var/lib/airlock-edge; a fleet member's\n" +
			"drop-in is /usr/share/doc/airlock-edge/examples/fleet.conf, a fleet on Kubernetes in\n" +
			"/usr/share/doc/airlock-edge/examples/kubernetes.",
		files: []pkgFile{
			{bin: "airlock-edge", dst: "/usr/bin/airlock-edge", mode: 0o755},
			{src: "packaging/systemd/airlock-edge.service", dst: "/usr/lib/systemd/system/airlock-edge.service", mode: 0o644},
			{src: "packaging/systemd/airlock-edge.sysusers", dst: "/usr/lib/sysusers.d/airlock-edge.conf", mode: 0o644},
			{src: "packaging/systemd/airlock-edge.tmpfiles", dst: "/usr/lib/tmpfiles.d/airlock-edge.conf", mode: 0o644},
			// A fleet member's drop-in, to copy to /etc/systemd/system/airlock-edge.service.d/.
			{src: "packaging/systemd/airlock-edge-fleet.conf", dst: "/usr/share/doc/airlock-edge/examples/fleet.conf", mode: 0o644},
			doc("airlock-edge"),
		},
		scripts: &pkgScripts{Package: "airlock-edge", User: "airlock-edge", Comment: "Airlock edge",
			Home: "/var/lib/airlock-edge", StateDir: "/var/lib/airlock-edge"},
	}
	connector := pkgSpec{
		name:    "airlock-connector",
		summary: "Airlock connector: serves a private Kubernetes API server through Airlock edges",
		description: "Runs next to the cluster, holds connections to every edge and dials only the origins\n" +
			"its ingress rules name. Runs as a systemd service (airlock-connector.service) with the\n" +
			"tunnel credentials in /etc/airlock/connector.json; the Kubernetes manifests are in\n" +
			"/usr/share/doc/airlock-connector/examples/kubernetes.",
		files: []pkgFile{
			{bin: "airlock-connector", dst: "/usr/bin/airlock-connector", mode: 0o755},
			{src: "packaging/systemd/airlock-connector.service", dst: "/usr/lib/systemd/system/airlock-connector.service", mode: 0o644},
			{src: "packaging/systemd/airlock-connector.sysusers", dst: "/usr/lib/sysusers.d/airlock-connector.conf", mode: 0o644},
			{src: "packaging/systemd/connector.env", dst: "/etc/airlock/connector.env", mode: 0o644, config: true},
			doc("airlock-connector"),
		},
		scripts: &pkgScripts{Package: "airlock-connector", User: "airlock-connector", Comment: "Airlock connector",
			Home: "/nonexistent", ConfigDir: "/etc/airlock"},
	}
	for _, m := range kubernetesManifests() {
		connector.files = append(connector.files, pkgFile{
			src: "packaging/kubernetes/" + m, dst: "/usr/share/doc/airlock-connector/examples/kubernetes/" + m, mode: 0o644,
		})
	}
	for _, m := range edgeKubernetesManifests() {
		edge.files = append(edge.files, pkgFile{
			src: "packaging/kubernetes/edge/" + m, dst: "/usr/share/doc/airlock-edge/examples/kubernetes/" + m, mode: 0o644,
		})
	}
	return []pkgSpec{airlock, edge, connector}
}

// edgeKubernetesManifests are the files in packaging/kubernetes/edge (a
// fleet of edges), in the order `kubectl apply -f` reads them.
func edgeKubernetesManifests() []string {
	return []string{"00-namespace.yaml", "10-serviceaccount.yaml", "20-store-secret.yaml", "30-migrate-job.yaml",
		"40-deployment.yaml", "50-service.yaml", "51-service-signin.yaml", "60-poddisruptionbudget.yaml"}
}

// kubernetesManifests are the files in packaging/kubernetes, in the order
// `kubectl apply -f` reads them.
func kubernetesManifests() []string {
	return []string{"00-namespace.yaml", "10-serviceaccount.yaml", "20-secret.yaml", "30-deployment.yaml", "40-poddisruptionbudget.yaml"}
}

// buildPackage writes package p for linux/arch in format ("deb" or "rpm")
// into o.Out, staging generated files under stage.
func (o *Options) buildPackage(p pkgSpec, format, arch string, pv PackageVersion, stage string) (Artifact, error) {
	dir := filepath.Join(stage, format+"-"+arch, p.name)
	contents, err := o.stageContents(p, arch, dir)
	if err != nil {
		return Artifact{}, err
	}
	info := &nfpm.Info{
		Name:            p.name,
		Arch:            arch,
		Platform:        "linux",
		Version:         pv.Version,
		Prerelease:      pv.Prerelease,
		VersionMetadata: pv.Metadata,
		VersionSchema:   "none",
		Section:         "net",
		Priority:        "optional",
		Maintainer:      "Airlock authors <airlock@users.noreply.github.com>",
		Description:     p.summary + "\n" + p.description,
		Vendor:          "Airlock",
		Homepage:        "https://github.com/airlockhq/airlock",
		Overridables: nfpm.Overridables{
			Contents:   contents,
			Recommends: p.recommends,
			RPM:        nfpm.RPM{Summary: p.summary, BuildHost: "airlock-dist"},
		},
	}
	if p.scripts != nil {
		scripts, err := o.renderScripts(*p.scripts, dir)
		if err != nil {
			return Artifact{}, err
		}
		info.Scripts = scripts
	}
	info = nfpm.WithDefaults(info)
	pkger, err := nfpm.Get(format)
	if err != nil {
		return Artifact{}, fmt.Errorf("dist: %w", err)
	}
	name := pkger.ConventionalFileName(info)
	dst := filepath.Join(o.Out, name)
	o.Log.Info("dist: package", "file", name)
	var buf bytes.Buffer
	if err := pkger.Package(info, &buf); err != nil {
		return Artifact{}, fmt.Errorf("dist: %s %s for %s: %w", format, p.name, arch, err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return Artifact{}, fmt.Errorf("dist: %w", err)
	}
	return Artifact{Path: name, Kind: format, Target: Target{"linux", arch}, Package: p.name}, nil
}

// stageContents turns p's files into nfpm contents, writing generated ones
// under dir.
func (o *Options) stageContents(p pkgSpec, arch, dir string) (files.Contents, error) {
	var out files.Contents
	for i, f := range p.files {
		var src string
		switch {
		case f.bin != "":
			src = filepath.Join(o.Out, "linux-"+arch, f.bin)
		case f.src != "":
			src = filepath.Join(o.Root, filepath.FromSlash(f.src))
		case f.gen != nil:
			b, err := f.gen()
			if err != nil {
				return nil, err
			}
			src = filepath.Join(dir, "gen", strconv.Itoa(i)+"-"+path.Base(f.dst))
			if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
				return nil, fmt.Errorf("dist: %w", err)
			}
			if err := os.WriteFile(src, b, 0o644); err != nil {
				return nil, fmt.Errorf("dist: %w", err)
			}
		default:
			return nil, fmt.Errorf("dist: %s: %s has no source", p.name, f.dst)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("dist: %s: %s: %w", p.name, f.dst, err)
		}
		typ := files.TypeFile
		if f.config {
			typ = files.TypeConfigNoReplace
		}
		out = append(out, &files.Content{
			Source:      src,
			Destination: f.dst,
			Type:        typ,
			FileInfo:    &files.ContentFileInfo{Mode: f.mode, Owner: "root", Group: "root"},
		})
	}
	return out, nil
}

// renderScripts fills in the maintainer script templates for s into dir.
func (o *Options) renderScripts(s pkgScripts, dir string) (nfpm.Scripts, error) {
	var out nfpm.Scripts
	for name, field := range map[string]*string{
		"postinstall.sh": &out.PostInstall,
		"preremove.sh":   &out.PreRemove,
		"postremove.sh":  &out.PostRemove,
	} {
		b, err := RenderScript(filepath.Join(o.Root, "packaging", "linux", "scripts", name), s)
		if err != nil {
			return out, err
		}
		dst := filepath.Join(dir, "scripts", name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return out, fmt.Errorf("dist: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			return out, fmt.Errorf("dist: %w", err)
		}
		*field = dst
	}
	return out, nil
}

// RenderScript fills in the maintainer script template at path with data.
func RenderScript(path string, data any) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dist: script: %w", err)
	}
	t, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("dist: script %s: %w", path, err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("dist: script %s: %w", path, err)
	}
	return out.Bytes(), nil
}
