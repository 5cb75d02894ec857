package dist

import (
	"fmt"

	"github.com/airlockhq/airlock/assets"
)

// AppIcon is the tray state whose icon is the application's icon.
const AppIcon = assets.Connected

// IconSizes are the hicolor sizes the airlock package installs
// (/usr/share/icons/hicolor/NxN/apps/airlock.png): every size assets
// embeds, each drawn at its own size.
func IconSizes() []int { return assets.Sizes() }

// AppIconPNG returns the application icon at size pixels, one of
// [IconSizes].
func AppIconPNG(size int) ([]byte, error) {
	b, err := assets.PNG(AppIcon, size)
	if err != nil {
		return nil, fmt.Errorf("dist: %w", err)
	}
	return b, nil
}
