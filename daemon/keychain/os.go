package keychain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
)

// DefaultTimeout bounds each keychain call.
const DefaultTimeout = 3 * time.Second

// Service is the keychain service name every item is stored under.
const Service = "airlock"

// Keyring is the OS keychain's calls, as go-keyring has them. Tests may
// substitute one; nil means go-keyring.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

type goKeyring struct{}

func (goKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (goKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (goKeyring) Delete(s, u string) error        { return keyring.Delete(s, u) }

// OS is the OS keychain with a timeout around every call. Calls run one at
// a time: a call that times out keeps running in the background (go-keyring
// cannot be interrupted; it may be waiting on the Secret Service's unlock
// prompt for a person to type a password) and holds its place until it
// returns, so a keychain that hangs costs one goroutine, not one per call,
// and never shows two unlock prompts. When such a call returns late with an
// answer, the hook set with [OS.OnLateAnswer] runs.
type OS struct {
	service string
	timeout time.Duration
	kr      Keyring
	slot    chan struct{} // held by the call that runs

	mu     sync.Mutex
	onLate func()
}

// NewOS returns the OS keychain storing items under service (empty means
// [Service]) with timeout per call (zero means [DefaultTimeout]). kr nil
// means go-keyring.
func NewOS(service string, timeout time.Duration, kr Keyring) *OS {
	if service == "" {
		service = Service
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if kr == nil {
		kr = goKeyring{}
	}
	return &OS{service: service, timeout: timeout, kr: kr, slot: make(chan struct{}, 1)}
}

// OnLateAnswer sets f to run (in the call's goroutine) when a call that
// timed out returns after all with an answer (a value, or not found): the
// keychain answers again, for example once a person has unlocked it.
func (o *OS) OnLateAnswer(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.onLate = f
}

func (o *OS) lateAnswer(op string, err error) {
	var ue *UnavailableError
	if errors.As(classify(op, err), &ue) {
		return
	}
	o.mu.Lock()
	f := o.onLate
	o.mu.Unlock()
	if f != nil {
		f()
	}
}

// Get implements Store.
func (o *OS) Get(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	var v string
	err := o.call(ctx, "get", func() error {
		var err error
		v, err = o.kr.Get(o.service, key)
		return err
	})
	return v, err
}

// Set implements Store.
func (o *OS) Set(ctx context.Context, key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	return o.call(ctx, "set", func() error { return o.kr.Set(o.service, key, value) })
}

// Delete implements Store.
func (o *OS) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := o.call(ctx, "delete", func() error { return o.kr.Delete(o.service, key) })
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// call runs fn in a goroutine, once the call before it has returned, and
// waits for both at most o.timeout. Results are classified:
// keyring.ErrNotFound becomes ErrNotFound, a too-big secret ErrTooBig,
// anything else an *UnavailableError.
func (o *OS) call(ctx context.Context, op string, fn func() error) error {
	t := time.NewTimer(o.timeout)
	defer t.Stop()
	select {
	case o.slot <- struct{}{}:
	case <-t.C:
		return &UnavailableError{Cause: CauseTimeout, Op: op, Err: fmt.Errorf("an earlier call has not returned within %s (a locked keyring waiting on an unlock prompt?)", o.timeout)}
	case <-ctx.Done():
		return fmt.Errorf("keychain %s: %w", op, context.Cause(ctx))
	}
	var (
		mu        sync.Mutex
		abandoned bool
	)
	done := make(chan error, 1)
	go func() {
		err := fn()
		<-o.slot
		mu.Lock()
		late := abandoned
		done <- err // buffered; under mu, so abandon sees it
		mu.Unlock()
		if late {
			o.lateAnswer(op, err)
		}
	}()
	abandon := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(done) > 0 {
			return false // it returned just now
		}
		abandoned = true
		return true
	}
	select {
	case err := <-done:
		return classify(op, err)
	case <-t.C:
		if !abandon() {
			return classify(op, <-done)
		}
		return &UnavailableError{Cause: CauseTimeout, Op: op, Err: fmt.Errorf("no answer within %s (a locked keyring waiting on an unlock prompt?)", o.timeout)}
	case <-ctx.Done():
		abandon()
		return fmt.Errorf("keychain %s: %w", op, context.Cause(ctx))
	}
}

// Cause says why the OS keychain is unusable.
type Cause string

// Causes of an UnavailableError.
const (
	// CauseNoBus: there is no D-Bus session bus (and no dbus-launch to
	// start one).
	CauseNoBus Cause = "no_session_bus"
	// CauseNoService: the session bus has no Secret Service
	// (org.freedesktop.secrets): no gnome-keyring or KWallet running.
	CauseNoService Cause = "no_secret_service"
	// CauseLocked: the keyring is locked and could not be unlocked (no
	// display for the prompt, or the prompt was dismissed).
	CauseLocked Cause = "locked"
	// CauseTimeout: the keychain did not answer in time.
	CauseTimeout Cause = "timeout"
	// CauseOther: any other keychain failure.
	CauseOther Cause = "error"
)

// Absent says the keychain is not there at all (no session bus, no Secret
// Service): the one case the file takes over. Locked, slow and failing
// keychains are temporary conditions.
func (c Cause) Absent() bool { return c == CauseNoBus || c == CauseNoService }

// UnavailableError says the OS keychain cannot be used, and why.
type UnavailableError struct {
	Cause Cause
	Op    string // get, set or delete
	Err   error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("OS keychain unusable (%s): %s: %v", e.Cause, e.Op, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Describe says the cause for people.
func (e *UnavailableError) Describe() string {
	switch e.Cause {
	case CauseNoBus:
		return "no D-Bus session bus (and no dbus-launch): no Secret Service to ask"
	case CauseNoService:
		return "no Secret Service on the session bus (no gnome-keyring or KWallet running)"
	case CauseLocked:
		return "the keyring is locked and could not be unlocked"
	case CauseTimeout:
		return "the keychain did not answer in time (a locked keyring waiting on an unlock prompt?)"
	}
	return "the keychain failed: " + e.Err.Error()
}

func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("keychain %s: %w", op, ErrNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("keychain %s: %w", op, ErrTooBig)
	}
	return &UnavailableError{Cause: causeOf(err), Op: op, Err: err}
}

// causeOf reads go-keyring's and godbus's error texts (they have no typed
// errors for these cases).
func causeOf(err error) Cause {
	s := err.Error()
	switch {
	case strings.Contains(s, "dbus-launch"),
		strings.Contains(s, "couldn't determine address of session bus"),
		strings.Contains(s, "dbus: couldn't"),
		strings.Contains(s, "dial unix"):
		return CauseNoBus
	case strings.Contains(s, "org.freedesktop.DBus.Error.ServiceUnknown"),
		strings.Contains(s, "was not provided by any .service files"):
		return CauseNoService
	case strings.Contains(s, "failed to unlock"),
		strings.Contains(s, "org.freedesktop.Secret.Error.IsLocked"):
		return CauseLocked
	}
	return CauseOther
}
