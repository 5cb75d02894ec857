package app

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
)

// systrayPNG re-encodes an icon so that fyne.io/systray v1.12.2 hands the
// panel the right pixels. Its argbForImage takes the low byte of each
// 16-bit premultiplied value from color.RGBA(), which is right only for
// fully opaque and fully transparent pixels: the anti-aliased edge pixels
// of an icon arrive as coloured specks. This writes a 16-bit image whose
// every pixel's low bytes, after that conversion, are exactly the 8-bit
// non-premultiplied ARGB the StatusNotifierItem IconPixmap wants.
func systrayPNG(data []byte) ([]byte, error) {
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("tray icon: %w", err)
	}
	b := src.Bounds()
	in := image.NewNRGBA(b)
	draw.Draw(in, b, src, b.Min, draw.Src)
	out := image.NewNRGBA64(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := in.NRGBAAt(x, y)
			a := uint32(c.A) * 0x101 // low byte: c.A
			out.SetNRGBA64(x, y, color.NRGBA64{R: channel(c.R, a), G: channel(c.G, a), B: channel(c.B, a), A: uint16(a)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, fmt.Errorf("tray icon: %w", err)
	}
	return buf.Bytes(), nil
}

// channel returns the 16-bit value v16 with byte(v16*a/0xffff) == v, the
// premultiplication color.NRGBA64.RGBA does.
func channel(v uint8, a uint32) uint16 {
	if a == 0 {
		return 0
	}
	want := uint32(v)
	if a == 0xffff {
		return uint16(want * 0x101)
	}
	// The premultiplied value p(c) = c*a/0xffff rises by at most 1 per
	// step of c and reaches a >= 257 > 255, so some c gives p == v.
	c := (want*0xffff + a - 1) / a
	for c*a/0xffff < want {
		c++
	}
	return uint16(c)
}
