// Package icon draws Airlock's tray icon for each state, at any size, from
// shapes described in code (signed distances, supersampled), and encodes
// the results as PNG and ICO. It is the one source of the files in
// assets/icons: assets/gen writes them and assets' test checks that they
// match what this package draws.
//
// The icon is a rounded square badge in the state's colour with a darker
// rim (so it stands out on light panels) and a white glyph (so it stands
// out on dark ones). The glyph, not only the colour, tells the states apart:
//
//	disconnected  grey,  padlock with its shackle open
//	connecting    amber, padlock with three dots in its body
//	connected     green, padlock closed
//	signin        blue,  a person (sign-in needed)
//	error         red,   an exclamation mark
package icon

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// State is one state the icon shows.
type State string

// The states, in the order the files are listed.
const (
	Disconnected State = "disconnected"
	Connecting   State = "connecting"
	Connected    State = "connected"
	SignIn       State = "signin"
	Error        State = "error"
)

// States lists every state.
func States() []State { return []State{Disconnected, Connecting, Connected, SignIn, Error} }

// Sizes are the square PNG sizes generated for each state: the one list of
// icon sizes. The tray picks from them, and the airlock package installs
// the application icon at each as a hicolor theme size
// (/usr/share/icons/hicolor/NxN/apps/airlock.png), every one drawn at its
// own size rather than scaled.
func Sizes() []int { return []int{16, 22, 24, 32, 48, 64, 128, 256} }

// ICOSizes are the sizes packed into each state's ICO: those of [Sizes]
// that Windows asks for (16, 24, 32, 48 and 256).
func ICOSizes() []int {
	var out []int
	for _, s := range Sizes() {
		if s != 22 && s != 64 && s != 128 {
			out = append(out, s)
		}
	}
	return out
}

type palette struct{ fill, rim color.NRGBA }

func colours(s State) (palette, error) {
	switch s {
	case Disconnected:
		return palette{fill: rgb(0x6b, 0x72, 0x80), rim: rgb(0x37, 0x41, 0x51)}, nil
	case Connecting:
		return palette{fill: rgb(0xe0, 0x8a, 0x00), rim: rgb(0x8a, 0x4b, 0x00)}, nil
	case Connected:
		return palette{fill: rgb(0x16, 0xa3, 0x4a), rim: rgb(0x0b, 0x5e, 0x2a)}, nil
	case SignIn:
		return palette{fill: rgb(0x25, 0x63, 0xeb), rim: rgb(0x1e, 0x36, 0x8a)}, nil
	case Error:
		return palette{fill: rgb(0xdc, 0x26, 0x26), rim: rgb(0x7f, 0x1d, 0x1d)}, nil
	}
	return palette{}, fmt.Errorf("icon: unknown state %q", s)
}

func rgb(r, g, b uint8) color.NRGBA { return color.NRGBA{r, g, b, 0xff} }

// layer is one shape: coverage of a point in the unit square (0..1, y
// down) and its colour.
type layer struct {
	inside func(x, y float64) bool
	col    color.NRGBA
}

// Render draws state s at size×size pixels.
func Render(s State, size int) (*image.NRGBA, error) {
	if size < 8 || size > 1024 {
		return nil, fmt.Errorf("icon: size %d out of range 8..1024", size)
	}
	pal, err := colours(s)
	if err != nil {
		return nil, err
	}
	// Small sizes get a thicker rim and glyph strokes, in pixels, so they
	// stay crisp; large sizes scale smoothly.
	// The badge fills the square and its rim is a whole number of pixels,
	// so its edges fall on pixel boundaries.
	px := 1 / float64(size)
	rim := math.Max(1, math.Round(0.045*float64(size))) * px
	layers := []layer{
		{func(x, y float64) bool { return roundRect(x, y, 0, 0, 1, 1, 0.22) <= 0 }, pal.rim},
		{func(x, y float64) bool { return roundRect(x, y, rim, rim, 1-rim, 1-rim, 0.22-rim) <= 0 }, pal.fill},
	}
	white := rgb(0xff, 0xff, 0xff)
	stroke := math.Max(1.6*px, 0.085) // shackle and glyph stroke width
	for _, g := range glyph(s, stroke) {
		layers = append(layers, layer{g.inside, colorOr(g.col, white, pal.fill)})
	}
	return raster(size, layers), nil
}

// part is a glyph shape; col is "" for white, "fill" for the badge colour
// (a cut-out).
type part struct {
	inside func(x, y float64) bool
	col    string
}

func colorOr(name string, white, fill color.NRGBA) color.NRGBA {
	if name == "fill" {
		return fill
	}
	return white
}

// glyph returns the white shapes drawn on the badge.
func glyph(s State, stroke float64) []part {
	body := func(x, y float64) bool { return roundRect(x, y, 0.25, 0.46, 0.75, 0.80, 0.07) <= 0 }
	shackle := func(dx, lift float64) func(x, y float64) bool {
		// A U upside down: an arch of radius r centred at (cx, cy) plus two legs.
		cx, cy, r := 0.5+dx, 0.36-lift, 0.155
		return func(x, y float64) bool {
			if y <= cy {
				d := math.Hypot(x-cx, y-cy)
				return math.Abs(d-r) <= stroke/2
			}
			left := math.Abs(x-(cx-r)) <= stroke/2 && y <= 0.5
			right := math.Abs(x-(cx+r)) <= stroke/2 && y <= 0.5-lift*0.9
			return left || right
		}
	}
	keyhole := func(x, y float64) bool {
		return math.Hypot(x-0.5, y-0.60) <= 0.055 || (math.Abs(x-0.5) <= 0.025 && y >= 0.60 && y <= 0.71)
	}
	switch s {
	case Disconnected:
		return []part{{shackle(0.0, 0.11), ""}, {body, ""}, {keyhole, "fill"}}
	case Connecting:
		dot := func(cx float64) func(x, y float64) bool {
			return func(x, y float64) bool { return math.Hypot(x-cx, y-0.63) <= 0.052 }
		}
		return []part{{shackle(0, 0), ""}, {body, ""}, {dot(0.36), "fill"}, {dot(0.5), "fill"}, {dot(0.64), "fill"}}
	case Connected:
		return []part{{shackle(0, 0), ""}, {body, ""}, {keyhole, "fill"}}
	case SignIn:
		head := func(x, y float64) bool { return math.Hypot(x-0.5, y-0.36) <= 0.14 }
		shoulders := func(x, y float64) bool {
			// The top half of an ellipse under the head.
			dx, dy := (x-0.5)/0.27, (y-0.80)/0.25
			return y <= 0.80 && dx*dx+dy*dy <= 1
		}
		return []part{{head, ""}, {shoulders, ""}}
	case Error:
		bar := func(x, y float64) bool {
			return roundRect(x, y, 0.5-stroke*0.75, 0.20, 0.5+stroke*0.75, 0.60, stroke*0.5) <= 0
		}
		dot := func(x, y float64) bool { return math.Hypot(x-0.5, y-0.75) <= stroke*0.85 }
		return []part{{bar, ""}, {dot, ""}}
	}
	return nil
}

// roundRect is the signed distance from (x, y) to a rectangle with rounded
// corners of radius r: negative inside.
func roundRect(x, y, x0, y0, x1, y1, r float64) float64 {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := (x1-x0)/2-r, (y1-y0)/2-r
	qx, qy := math.Abs(x-cx)-hx, math.Abs(y-cy)-hy
	out := math.Hypot(math.Max(qx, 0), math.Max(qy, 0))
	return out + math.Min(math.Max(qx, qy), 0) - r
}

// raster paints the layers in order with 8×8 supersampling per pixel.
func raster(size int, layers []layer) *image.NRGBA {
	const ss = 8
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64 // premultiplied sums
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					var c color.NRGBA
					for _, l := range layers {
						if l.inside(x, y) {
							c = l.col
						}
					}
					af := float64(c.A) / 255
					r += float64(c.R) * af
					g += float64(c.G) * af
					b += float64(c.B) * af
					a += af
				}
			}
			n := float64(ss * ss)
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(a / n * 255)),
			})
		}
	}
	return img
}
