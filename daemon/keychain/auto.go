package keychain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File names under the state folder.
const (
	TokenFileName  = "tokens.json"
	ChoiceFileName = "token-store.json"
)

// DefaultDir returns $XDG_STATE_HOME/airlock, or ~/.local/state/airlock.
// getenv is os.Getenv in production.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "airlock"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("neither XDG_STATE_HOME nor HOME is set: no folder for the token store")
	}
	return filepath.Join(home, ".local", "state", "airlock"), nil
}

// Info says which store is in use and why.
type Info struct {
	Kind Kind
	// Path is the fallback file (also set while the keychain is in use,
	// so people know where it would be).
	Path string
	// Reason says why the file is used: the keychain's failure.
	Reason string
	// Cause is the keychain failure's cause, empty while it is in use.
	Cause Cause
	// Since is when the choice was made.
	Since time.Time
	// Remembered says the choice came from the state file of an earlier
	// start; ChoicePath is that file.
	Remembered bool
	ChoicePath string
	// Probed says whether the keychain has answered (or failed) in this
	// process yet.
	Probed bool
}

// AutoOptions configures an Auto store.
type AutoOptions struct {
	// Dir is the state folder ($XDG_STATE_HOME/airlock); required.
	Dir string
	// Keychain is the OS keychain; nil means NewOS("", 0, nil).
	Keychain Store
	// Logger receives the one warning when the file takes over. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Auto is the daemon's store: the OS keychain while it works, the 0600
// file under Dir once it does not, and the choice remembered in
// Dir/token-store.json.
type Auto struct {
	keychain Store
	file     *File
	choice   string
	log      *slog.Logger
	now      func() time.Time

	mu   sync.Mutex
	info Info
}

// choiceData is the remembered choice's file.
type choiceData struct {
	Store  Kind      `json:"store"`
	Cause  Cause     `json:"cause,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// OpenAuto returns the daemon's store, reading a remembered choice from an
// earlier start. An unreadable choice file is reported and ignored.
func OpenAuto(opts AutoOptions) (*Auto, error) {
	if opts.Dir == "" {
		return nil, errors.New("keychain: no state folder")
	}
	a := &Auto{
		keychain: opts.Keychain,
		file:     NewFile(filepath.Join(opts.Dir, TokenFileName)),
		choice:   filepath.Join(opts.Dir, ChoiceFileName),
		log:      opts.Logger,
		now:      opts.Now,
	}
	if a.keychain == nil {
		a.keychain = NewOS("", 0, nil)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.info = Info{Kind: KindKeychain, Path: a.file.Path(), ChoicePath: a.choice}
	c, err := readChoice(a.choice)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		a.log.Warn("ignoring the remembered token store", "file", a.choice, "err", err)
	default:
		a.info.Kind, a.info.Cause, a.info.Reason, a.info.Since, a.info.Remembered = c.Store, c.Cause, c.Reason, c.Since, true
		if c.Store == KindFile {
			a.log.Info("tokens are kept in a file (remembered choice)", "file", a.file.Path(), "reason", c.Reason, "since", c.Since.Format(time.RFC3339))
		}
	}
	return a, nil
}

func readChoice(path string) (*choiceData, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseChoice(data)
}

// parseChoice decodes the remembered choice strictly.
func parseChoice(data []byte) (*choiceData, error) {
	if len(data) > 64<<10 {
		return nil, errors.New("choice file is over 64 KiB")
	}
	var c choiceData
	if err := decodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("not a token-store choice: %w", err)
	}
	if c.Store != KindKeychain && c.Store != KindFile {
		return nil, fmt.Errorf("unknown token store %q", c.Store)
	}
	return &c, nil
}

// Info returns the store in use and why.
func (a *Auto) Info() Info {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info
}

// Probe asks the keychain once (unless the file is in use already), so
// that Info is settled before the first token is needed.
func (a *Auto) Probe(ctx context.Context) Info {
	if _, err := a.Get(ctx, "probe"); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		a.log.Debug("token store probe", "err", err)
	}
	return a.Info()
}

// current returns the store in use.
func (a *Auto) current() (Store, Kind) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.info.Kind == KindFile {
		return a.file, KindFile
	}
	return a.keychain, KindKeychain
}

// Get implements Store.
func (a *Auto) Get(ctx context.Context, key string) (string, error) {
	var v string
	err := a.do(ctx, func(s Store) error {
		var err error
		v, err = s.Get(ctx, key)
		return err
	})
	return v, err
}

// Set implements Store.
func (a *Auto) Set(ctx context.Context, key, value string) error {
	return a.do(ctx, func(s Store) error { return s.Set(ctx, key, value) })
}

// Delete implements Store.
func (a *Auto) Delete(ctx context.Context, key string) error {
	return a.do(ctx, func(s Store) error { return s.Delete(ctx, key) })
}

// DeleteEverywhere removes key from the keychain and from the file, the
// one not in use too (for logout). It returns the first real failure;
// an unusable keychain is not one.
func (a *Auto) DeleteEverywhere(ctx context.Context, key string) error {
	var ue *UnavailableError
	kerr := a.keychain.Delete(ctx, key)
	if errors.As(kerr, &ue) {
		kerr = nil
	}
	ferr := a.file.Delete(ctx, key)
	return errors.Join(kerr, ferr)
}

// do runs op on the store in use; when the keychain turns out unusable it
// switches to the file for good and runs op there.
func (a *Auto) do(ctx context.Context, op func(Store) error) error {
	s, kind := a.current()
	err := op(s)
	var ue *UnavailableError
	if kind == KindFile || !errors.As(err, &ue) {
		if kind == KindKeychain && (err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooBig)) {
			a.settle() // the keychain answered
		}
		return err
	}
	a.fallBack(ue)
	return op(a.file)
}

// settle records, once, that the keychain works.
func (a *Auto) settle() {
	a.mu.Lock()
	if a.info.Probed {
		a.mu.Unlock()
		return
	}
	a.info.Probed = true
	write := !a.info.Remembered
	if write {
		a.info.Since, a.info.Remembered = a.now(), true
	}
	c := choiceData{Store: KindKeychain, Since: a.info.Since}
	a.mu.Unlock()
	if write {
		if err := a.writeChoice(c); err != nil {
			a.log.Warn("cannot remember the token store", "file", a.choice, "err", err)
		}
	}
}

// fallBack switches to the file, logs why (once) and remembers it.
func (a *Auto) fallBack(ue *UnavailableError) {
	a.mu.Lock()
	if a.info.Kind == KindFile {
		a.mu.Unlock()
		return
	}
	a.info = Info{Kind: KindFile, Path: a.file.Path(), Reason: ue.Describe(), Cause: ue.Cause, Since: a.now(), Remembered: true, ChoicePath: a.choice, Probed: true}
	c := choiceData{Store: KindFile, Cause: ue.Cause, Reason: ue.Describe(), Since: a.info.Since}
	a.mu.Unlock()
	a.log.Warn("OS keychain unusable: keeping sign-in tokens in a private file instead (remembered for later starts)",
		"cause", string(ue.Cause), "reason", ue.Describe(), "err", ue.Err, "file", a.file.Path(), "choice", a.choice)
	if err := a.writeChoice(c); err != nil {
		a.log.Warn("cannot remember the token store", "file", a.choice, "err", err)
	}
}

func (a *Auto) writeChoice(c choiceData) error {
	data, err := marshalJSON(c)
	if err != nil {
		return err
	}
	return writeAtomic(a.choice, data)
}
