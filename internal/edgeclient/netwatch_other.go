//go:build !linux

package edgeclient

import (
	"context"
	"log/slog"
)

// watchNetwork has no event source outside Linux yet: the watcher's
// periodic route check (routeRecheck) notices a change of address.
func watchNetwork(context.Context, *slog.Logger) <-chan struct{} { return nil }
