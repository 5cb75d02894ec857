package icon

import (
	"bytes"
	"image/png"
	"testing"
)

func TestRender(t *testing.T) {
	for _, s := range States() {
		for _, size := range Sizes() {
			t.Run(string(s), func(t *testing.T) {
				img, err := Render(s, size)
				if err != nil {
					t.Fatal(err)
				}
				// The corners are transparent, the centre column holds
				// both the badge colour and white.
				if a := img.NRGBAAt(0, 0).A; a > 40 {
					t.Errorf("%d px: corner alpha %d", size, a)
				}
				white, fill := 0, 0
				pal, _ := colours(s)
				for y := 0; y < size; y++ {
					c := img.NRGBAAt(size/2, y)
					if c.R > 240 && c.G > 240 && c.B > 240 {
						white++
					}
					if c == pal.fill {
						fill++
					}
				}
				if white == 0 || fill == 0 {
					t.Errorf("%d px: centre column has %d white and %d fill pixels", size, white, fill)
				}
			})
		}
	}
	if _, err := Render("nope", 16); err == nil {
		t.Error("unknown state rendered")
	}
	if _, err := Render(Connected, 4); err == nil {
		t.Error("size 4 rendered")
	}
}

func TestICORoundTrip(t *testing.T) {
	var pngs [][]byte
	for _, size := range ICOSizes() {
		img, _ := Render(Error, size)
		b, err := PNG(img)
		if err != nil {
			t.Fatal(err)
		}
		pngs = append(pngs, b)
	}
	ico, err := ICO(pngs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ICOEntries(ico)
	if err != nil || len(got) != len(pngs) {
		t.Fatalf("entries %d, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], pngs[i]) {
			t.Errorf("entry %d differs", i)
		}
		if _, err := png.Decode(bytes.NewReader(got[i])); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	if ico[6] != 16 || ico[6+16*4] != 0 { // 256 is written as 0
		t.Errorf("directory sizes %d, %d", ico[6], ico[6+16*4])
	}
}

func FuzzICOEntries(f *testing.F) {
	img, _ := Render(Connected, 16)
	p, _ := PNG(img)
	ico, _ := ICO([][]byte{p})
	f.Add(ico)
	f.Add([]byte{0, 0, 1, 0, 255, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ICOEntries(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if len(e) > len(data) {
				t.Fatal("entry longer than the file")
			}
		}
	})
}
