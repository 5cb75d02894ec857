package app

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/airlockhq/airlock/assets"
)

// argb is fyne.io/systray v1.12.2's argbForImage, for one pixel.
func argb(img image.Image, x, y int) [4]byte {
	r, g, b, a := img.At(x, y).RGBA()
	return [4]byte{byte(a), byte(r), byte(g), byte(b)}
}

func TestSystrayPNG(t *testing.T) {
	for _, s := range assets.States() {
		t.Run(string(s), func(t *testing.T) {
			raw, err := assets.PNG(s, 22)
			if err != nil {
				t.Fatal(err)
			}
			fixed, err := systrayPNG(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := png.Decode(bytes.NewReader(raw))
			got, err := png.Decode(bytes.NewReader(fixed))
			if err != nil {
				t.Fatal(err)
			}
			partial := 0
			for y := 0; y < 22; y++ {
				for x := 0; x < 22; x++ {
					c := want.(*image.NRGBA).NRGBAAt(x, y)
					exp := [4]byte{c.A, c.R, c.G, c.B}
					if c.A == 0 {
						exp = [4]byte{}
					}
					if g := argb(got, x, y); g != exp {
						t.Fatalf("pixel %d,%d: systray would send %v, want %v", x, y, g, exp)
					}
					if c.A > 0 && c.A < 255 {
						partial++
					}
				}
			}
			if partial == 0 {
				t.Errorf("no anti-aliased pixels to check")
			}
		})
	}
}
