package packaging_test

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/packaging/internal/ptest"
)

// TestDesktopFiles runs desktop-file-validate on the desktop and autostart
// entries and checks they start the tray (`airlock`; the desktop entry
// with the URL it was opened for, %u, as the handler of airlock:// links)
// with the icon the package installs.
func TestDesktopFiles(t *testing.T) {
	validate := testenv.LookPath(t, "desktop-file-validate", "apt-get install desktop-file-utils")
	root := ptest.Root(t)
	for _, tc := range []struct {
		file      string
		autostart bool
	}{
		{file: "airlock.desktop"},
		{file: "airlock-autostart.desktop", autostart: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(root, "packaging", "linux", tc.file)
			out, err := exec.Command(validate, path).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("desktop-file-validate: %v\n%s", err, out)
			}
			entry := readDesktopEntry(t, path)
			want := map[string]string{"Type": "Application", "Exec": "airlock %u", "Icon": "airlock", "Terminal": "false",
				"MimeType": "x-scheme-handler/airlock;"}
			if tc.autostart {
				want["Exec"], want["MimeType"] = "airlock", "" // starts the tray alone; handles no links
				want["X-GNOME-Autostart-enabled"] = "true"
				want["NoDisplay"] = "true"
			}
			for k, v := range want {
				if entry[k] != v {
					t.Errorf("%s=%q, want %q", k, entry[k], v)
				}
			}
		})
	}
}

// readDesktopEntry returns the keys of the [Desktop Entry] group.
func readDesktopEntry(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	group := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			group = line
		case group == "[Desktop Entry]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlists checks the macOS files are well-formed property lists with
// what launchd and the app bundle need: the agent runs `airlock daemon`
// and is kept alive; the app is a menu-bar app (LSUIElement) with no Dock
// icon.
func TestPlists(t *testing.T) {
	root := ptest.Root(t)
	for _, tc := range []struct {
		file string
		want map[string]string // key → value as plistDict renders it
	}{
		{
			file: "com.airlockhq.airlock.daemon.plist",
			want: map[string]string{
				"Label":            "com.airlockhq.airlock.daemon",
				"ProgramArguments": "[/Applications/Airlock.app/Contents/MacOS/airlock daemon]",
				"RunAtLoad":        "true",
				"KeepAlive":        "{SuccessfulExit=false}",
			},
		},
		{
			file: "Info.plist",
			want: map[string]string{
				"CFBundleIdentifier":  "com.airlockhq.airlock",
				"CFBundleExecutable":  "airlock",
				"CFBundlePackageType": "APPL",
				"LSUIElement":         "true",
				"CFBundleURLTypes":    "[{CFBundleURLName=com.airlockhq.airlock.join CFBundleURLSchemes=[airlock]}]",
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(root, "packaging", "macos", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dict, err := readPlist(f)
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			for k, v := range tc.want {
				if dict[k] != v {
					t.Errorf("%s = %q, want %q", k, dict[k], v)
				}
			}
		})
	}
}

// readPlist parses an XML property list whose root is a dict and returns
// its keys with each value rendered as text: strings and numbers as they
// are, booleans as true/false, arrays as [a b], dicts as {k=v ...}.
func readPlist(r io.Reader) (map[string]string, error) {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("no <plist><dict>: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			out := map[string]string{}
			err := readDict(d, out)
			return out, err
		}
	}
}

func readDict(d *xml.Decoder, out map[string]string) error {
	key := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			if key != "" {
				return fmt.Errorf("key %q has no value", key)
			}
			return nil
		case xml.StartElement:
			if tok.Name.Local == "key" {
				if key != "" {
					return fmt.Errorf("key %q has no value", key)
				}
				if err := d.DecodeElement(&key, &tok); err != nil {
					return err
				}
				if _, dup := out[key]; dup {
					return fmt.Errorf("key %q twice", key)
				}
				continue
			}
			if key == "" {
				return fmt.Errorf("<%s> without a key", tok.Name.Local)
			}
			v, err := readValue(d, tok)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			out[key], key = v, ""
		}
	}
}

func readValue(d *xml.Decoder, se xml.StartElement) (string, error) {
	switch se.Name.Local {
	case "string", "integer", "real", "date", "data":
		var s string
		err := d.DecodeElement(&s, &se)
		return s, err
	case "true", "false":
		return se.Name.Local, d.Skip()
	case "array":
		var items []string
		for {
			tok, err := d.Token()
			if err != nil {
				return "", err
			}
			switch tok := tok.(type) {
			case xml.EndElement:
				return "[" + strings.Join(items, " ") + "]", nil
			case xml.StartElement:
				v, err := readValue(d, tok)
				if err != nil {
					return "", err
				}
				items = append(items, v)
			}
		}
	case "dict":
		m := map[string]string{}
		if err := readDict(d, m); err != nil {
			return "", err
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+"="+m[k])
		}
		return "{" + strings.Join(parts, " ") + "}", nil
	}
	return "", fmt.Errorf("unknown plist element <%s>", se.Name.Local)
}
