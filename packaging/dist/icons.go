package dist

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"slices"

	"github.com/airlockhq/airlock/assets"
	"golang.org/x/image/draw"
)

// AppIcon is the tray state whose icon is the application's icon.
const AppIcon = assets.Connected

// IconSizes are the hicolor sizes the airlock package installs
// (/usr/share/icons/hicolor/NxN/apps/airlock.png).
func IconSizes() []int { return []int{16, 22, 24, 32, 48, 64, 128, 256} }

// AppIconPNG returns the application icon at size pixels: the drawn one
// from assets when it has that size, else the largest scaled down.
func AppIconPNG(size int) ([]byte, error) {
	if slices.Contains(assets.Sizes(), size) {
		return assets.PNG(AppIcon, size)
	}
	largest := slices.Max(assets.Sizes())
	if size > largest {
		return nil, fmt.Errorf("dist: no icon of %d px (the largest is %d)", size, largest)
	}
	b, err := assets.PNG(AppIcon, largest)
	if err != nil {
		return nil, err
	}
	src, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("dist: icon: %w", err)
	}
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var out bytes.Buffer
	if err := png.Encode(&out, dst); err != nil {
		return nil, fmt.Errorf("dist: icon: %w", err)
	}
	return out.Bytes(), nil
}
