package keychain

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlockhq/airlock/internal/backoff"
)

// ErrWaiting says the keychain is locked or slow and memory does not hold
// the key: it is there, most likely, but cannot be read until the keychain
// answers. Callers ask again later rather than treat the key as missing.
var ErrWaiting = errors.New("the OS keychain is locked or not answering; asked again later")

// pendingValue is a value (or a deletion) waiting in memory for the
// keychain.
type pendingValue struct {
	value string
	del   bool
	gen   uint64 // tells a newer write of the key from the one flushed
}

func (p pendingValue) apply(ctx context.Context, s Store, key string) error {
	if p.del {
		return s.Delete(ctx, key)
	}
	return s.Set(ctx, key, p.value)
}

// memoryGet answers Get while the keychain is locked or slow: from memory,
// else from a legacy file, else ErrWaiting. ok is false in other states.
func (a *Auto) memoryGet(key string) (v string, err error, ok bool) {
	a.mu.Lock()
	if a.info.Kind != KindMemory {
		a.mu.Unlock()
		return "", nil, false
	}
	p, held := a.pending[key]
	legacy, cause := a.legacy, a.info.Cause
	a.mu.Unlock()
	switch {
	case held && p.del:
		return "", fmt.Errorf("keychain (waiting): %w", ErrNotFound), true
	case held:
		return p.value, nil, true
	case legacy:
		if v, err := a.file.Get(context.Background(), key); err == nil {
			return v, nil, true
		}
	}
	return "", a.waitingError(cause), true
}

// memoryPut keeps p for key in memory while the keychain is locked or
// slow, and reports whether it did.
func (a *Auto) memoryPut(key string, p pendingValue) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.info.Kind != KindMemory {
		return false
	}
	a.gen++
	p.gen = a.gen
	a.pending[key] = p
	return true
}

func (a *Auto) waitingError(c Cause) error {
	return fmt.Errorf("keychain: %w (%s)", ErrWaiting, c)
}

// waitingReason says, for people, why values wait in memory.
func waitingReason(ue *UnavailableError) string {
	switch ue.Cause {
	case CauseLocked:
		return "the keyring is locked: unlock it; the sign-in is kept in memory until then"
	case CauseTimeout:
		return "the keychain does not answer (a locked keyring waiting on its unlock prompt?): the sign-in is kept in memory until it does"
	}
	return fmt.Sprintf("the keychain failed (%v): the sign-in is kept in memory until it works", ue.Err)
}

// startWaiting keeps values in memory from now on, because the keychain
// is locked or slow, and wakes Run to ask it again.
func (a *Auto) startWaiting(ue *UnavailableError) {
	a.mu.Lock()
	switch a.info.Kind {
	case KindFile:
		a.mu.Unlock()
		return
	case KindMemory:
		changed := a.info.Cause != ue.Cause
		a.info.Cause, a.info.Reason, a.info.Fix = ue.Cause, waitingReason(ue), fixFor(ue.Cause)
		info := a.infoLocked()
		a.mu.Unlock()
		if changed {
			a.log.Info("the OS keychain is still not usable", "cause", string(ue.Cause), "err", ue.Err)
			a.changed(info)
		}
		return
	}
	a.before = a.info
	a.info = Info{
		Kind: KindMemory, Path: a.file.Path(), ChoicePath: a.choice, Probed: true,
		Cause: ue.Cause, Reason: waitingReason(ue), Fix: fixFor(ue.Cause), Since: a.now(),
	}
	info := a.infoLocked()
	a.mu.Unlock()
	a.log.Warn("OS keychain locked or not answering: keeping sign-in tokens in memory until it answers (never in the file)",
		"cause", string(ue.Cause), "reason", info.Reason, "err", ue.Err)
	a.wake()
	a.changed(info)
}

// wake makes Run ask the keychain again now.
func (a *Auto) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Auto) waiting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info.Kind == KindMemory
}

// Run asks a locked or slow keychain again until it answers, with backoff
// (AutoOptions.Retry), at once when a call that had timed out returns, and
// moves the values waiting in memory into it; a keychain found absent
// meanwhile hands them to the file. It returns when ctx ends.
func (a *Auto) Run(ctx context.Context) error {
	cfg := a.retry
	cfg.NoJitter = true // one loop per daemon: nothing to spread out
	b := backoff.New(cfg)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
		}
		b.Reset()
		for a.waiting() {
			select {
			case <-ctx.Done():
				return nil
			case <-b.After(b.Next()):
			case <-a.kick:
			}
			a.askAgain(ctx)
		}
	}
}

// askAgain asks the keychain once more: it moves each waiting value into
// it, or (none waiting) reads a probe key.
func (a *Auto) askAgain(ctx context.Context) {
	a.mu.Lock()
	if a.info.Kind != KindMemory {
		a.mu.Unlock()
		return
	}
	a.info.Attempts++
	a.mu.Unlock()
	for {
		a.mu.Lock()
		var (
			key   string
			p     pendingValue
			found bool
		)
		for k, v := range a.pending {
			key, p, found = k, v, true
			break
		}
		a.mu.Unlock()
		var err error
		if found {
			err = p.apply(ctx, a.keychain, key)
		} else if _, err = a.keychain.Get(ctx, "probe"); errors.Is(err, ErrNotFound) {
			err = nil
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ue *UnavailableError
			if !errors.As(err, &ue) {
				ue = &UnavailableError{Cause: CauseOther, Op: "set", Err: err}
			}
			if !a.fail(ue) {
				a.changed(a.Info()) // one more attempt, still waiting
			}
			return
		}
		a.mu.Lock()
		if cur, held := a.pending[key]; found && held && cur.gen == p.gen {
			delete(a.pending, key)
		}
		done := len(a.pending) == 0
		if done {
			a.info = a.before
		}
		info := a.infoLocked()
		a.mu.Unlock()
		if found && !p.del {
			a.dropLegacy(ctx, key)
		}
		if done {
			a.log.Info("the OS keychain answers again: sign-in tokens are stored in it", "attempts", info.Attempts)
			a.settle()
			a.changed(a.Info())
			return
		}
	}
}

func (a *Auto) hasLegacy() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.legacy
}

// dropLegacy removes key from a legacy file (one an earlier version filled
// because the keychain was locked) once the keychain or memory holds a
// newer value; the emptied file is removed and the keychain remembered.
func (a *Auto) dropLegacy(ctx context.Context, key string) {
	if !a.hasLegacy() {
		return
	}
	if err := a.file.Delete(ctx, key); err != nil {
		a.log.Warn("cannot delete an old token from the file", "file", a.file.Path(), "err", err)
		return
	}
	a.mu.Lock()
	kind := a.info.Kind
	a.mu.Unlock()
	if empty, err := a.file.Empty(); err != nil || !empty || kind != KindKeychain {
		return
	}
	if err := a.file.Remove(); err != nil {
		a.log.Warn("cannot remove the emptied token file", "file", a.file.Path(), "err", err)
		return
	}
	a.mu.Lock()
	a.legacy = false
	a.info.Remembered, a.info.Since = true, a.now()
	c := choiceData{Store: KindKeychain, Since: a.info.Since}
	a.mu.Unlock()
	if err := a.writeChoice(c); err != nil {
		a.log.Warn("cannot remember the token store", "file", a.choice, "err", err)
	}
	a.log.Info("the token file is empty and removed: every sign-in token is in the OS keychain", "file", a.file.Path())
}
