// Package assets embeds Airlock's generated icons: for each tray state a
// PNG at each of [Sizes] (16 to 256 pixels) and an ICO. The files in icons/
// are written by `go generate ./assets` from the drawing in
// assets/internal/icon (the one source); a test fails when they differ
// from what the source draws.
package assets

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/airlockhq/airlock/assets/internal/icon"
)

//go:generate go run ./gen -out icons

//go:embed icons/*.png icons/*.ico
var icons embed.FS

// State is a tray state with its own icon (the drawing's states).
type State = icon.State

// The tray states.
const (
	Disconnected = icon.Disconnected
	Connecting   = icon.Connecting
	Connected    = icon.Connected
	SignIn       = icon.SignIn
	Error        = icon.Error
)

// States lists every state.
func States() []State { return icon.States() }

// Sizes are the PNG sizes embedded for each state (the drawing's list).
func Sizes() []int { return icon.Sizes() }

// PNG returns state s's icon at size pixels (one of Sizes).
func PNG(s State, size int) ([]byte, error) {
	b, err := icons.ReadFile(fmt.Sprintf("icons/%s-%d.png", s, size))
	if err != nil {
		return nil, fmt.Errorf("no %d px icon for state %q: %w", size, s, err)
	}
	return b, nil
}

// ICO returns state s's icon as an ICO (16 to 256 pixels), for Windows.
func ICO(s State) ([]byte, error) {
	b, err := icons.ReadFile("icons/" + string(s) + ".ico")
	if err != nil {
		return nil, fmt.Errorf("no ICO for state %q: %w", s, err)
	}
	return b, nil
}

// Icons returns the embedded icon files (icons/NAME).
func Icons() fs.FS { return icons }
