package assets_test

import (
	"bytes"
	"image"
	"image/png"
	"io/fs"
	"sort"
	"testing"

	"github.com/airlockhq/airlock/assets"
	"github.com/airlockhq/airlock/assets/internal/icon"
)

// TestRegenerated checks that the committed icons are exactly what the
// source draws: run `go generate ./assets` after changing the drawing.
// Pixels are compared, not bytes, so a new Go release's PNG compressor
// does not fail it.
func TestRegenerated(t *testing.T) {
	want, err := icon.Files()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	fs.WalkDir(assets.Icons(), "icons", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, path[len("icons/"):])
		}
		return err
	})
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(got) != len(names) {
		t.Errorf("embedded %d files %v, the source makes %d %v", len(got), got, len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			committed, err := fs.ReadFile(assets.Icons(), "icons/"+name)
			if err != nil {
				t.Fatalf("%v (run go generate ./assets)", err)
			}
			if bytes.Equal(committed, want[name]) {
				return
			}
			a, b := [][]byte{committed}, [][]byte{want[name]}
			if name[len(name)-4:] == ".ico" {
				if a, err = icon.ICOEntries(committed); err != nil {
					t.Fatal(err)
				}
				if b, err = icon.ICOEntries(want[name]); err != nil {
					t.Fatal(err)
				}
			}
			if len(a) != len(b) {
				t.Fatalf("%d images, the source makes %d (run go generate ./assets)", len(a), len(b))
			}
			for i := range a {
				if !samePixels(t, a[i], b[i]) {
					t.Fatalf("image %d differs from what the source draws (run go generate ./assets)", i)
				}
			}
		})
	}
}

func samePixels(t *testing.T, a, b []byte) bool {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Bounds() != ib.Bounds() {
		return false
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if nrgba(ia, x, y) != nrgba(ib, x, y) {
				return false
			}
		}
	}
	return true
}

func nrgba(img image.Image, x, y int) [4]uint32 {
	r, g, b, a := img.At(x, y).RGBA()
	return [4]uint32{r, g, b, a}
}

func TestLookup(t *testing.T) {
	for _, s := range assets.States() {
		for _, size := range assets.Sizes() {
			b, err := assets.PNG(s, size)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width != size || cfg.Height != size {
				t.Errorf("%s %d: %dx%d %v", s, size, cfg.Width, cfg.Height, err)
			}
		}
		ico, err := assets.ICO(s)
		if err != nil {
			t.Fatal(err)
		}
		if entries, err := icon.ICOEntries(ico); err != nil || len(entries) != len(icon.ICOSizes()) {
			t.Errorf("%s.ico: %d entries, %v", s, len(entries), err)
		}
	}
	if _, err := assets.PNG("nope", 16); err == nil {
		t.Error("unknown state: no error")
	}
	if _, err := assets.PNG(assets.Connected, 17); err == nil {
		t.Error("unknown size: no error")
	}
}
