package kubeconfig

import (
	"context"
	"errors"
	"log/slog"
)

// Cleanup removes what a daemon that crashed left behind: it restores every entry
// carrying an Airlock record, in every file of opts.Paths, as Disconnect would, and
// removes Airlock's temporary files and lock files of Airlock processes that are gone.
// Call it at start, before the first Connect. It returns an error naming each file it
// could not clean (one that does not parse, is locked, …); the daemon should report
// it and go on: Connect and Run take over from there.
func Cleanup(ctx context.Context, log *slog.Logger, opts Options) error {
	s, err := New(log, opts)
	if err != nil {
		return err
	}
	s.cycleMu.Lock()
	defer s.cycleMu.Unlock()
	o := s.run(ctx, job{all: true}, false)
	errs := o.other
	for _, es := range o.errs {
		errs = append(errs, es...)
	}
	return errors.Join(errs...)
}
