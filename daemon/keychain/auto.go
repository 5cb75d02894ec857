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

	"github.com/airlockhq/airlock/internal/backoff"
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
	// Reason says why the file or memory is used: the keychain's failure.
	Reason string
	// Fix says what a person can do about it (empty while the keychain
	// works).
	Fix string
	// Cause is the keychain failure's cause, empty while it is in use.
	Cause Cause
	// Since is when the choice was made (for KindMemory: when the
	// keychain stopped answering).
	Since time.Time
	// Remembered says the choice came from the state file of an earlier
	// start; ChoicePath is that file.
	Remembered bool
	ChoicePath string
	// Probed says whether the keychain has answered (or failed) in this
	// process yet.
	Probed bool
	// Pending counts the values (or deletions) waiting in memory for the
	// keychain (KindMemory); Attempts counts the times it was asked
	// again since it stopped answering.
	Pending  int
	Attempts int
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
	// Retry is the backoff between the times Run asks a locked or slow
	// keychain again; the zero value means 1 s doubling to 1 min (its
	// Clock is injected by tests).
	Retry backoff.Config
	// OnChange, when set, is called with the new Info after every change
	// of store and every time Run asked the keychain again. It must not
	// call back into the Auto.
	OnChange func(Info)
}

// Auto is the daemon's store: the OS keychain while it works, the 0600
// file under Dir once the keychain is absent (no session bus, no Secret
// Service), and the choice remembered in Dir/token-store.json. A keychain
// that is locked or does not answer in time is a temporary condition:
// values wait in memory (KindMemory) and [Auto.Run] asks the keychain
// again with backoff, at once when a late call returns, and moves them in
// when it answers. A lock never puts a value in the file.
type Auto struct {
	keychain Store
	file     *File
	choice   string
	log      *slog.Logger
	now      func() time.Time
	retry    backoff.Config
	onChange func(Info)
	kick     chan struct{} // wakes Run

	mu      sync.Mutex
	info    Info
	pending map[string]pendingValue
	gen     uint64
	// legacy says the file holds values an earlier version moved there
	// because of a lock: read while the keychain lacks them, deleted as
	// the keychain takes each key.
	legacy bool
	// before is the keychain's Info while values wait in memory.
	before Info
}

// choiceData is the remembered choice's file.
type choiceData struct {
	Store  Kind      `json:"store"`
	Cause  Cause     `json:"cause,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// OpenAuto returns the daemon's store, reading a remembered choice from an
// earlier start. An unreadable choice file is reported and ignored. A
// remembered file choice made because the keychain was locked or slow
// (earlier versions did that) is not kept: the keychain is asked again.
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
		retry:    opts.Retry,
		onChange: opts.OnChange,
		kick:     make(chan struct{}, 1),
		pending:  map[string]pendingValue{},
	}
	if a.keychain == nil {
		a.keychain = NewOS("", 0, nil)
	}
	if l, ok := a.keychain.(interface{ OnLateAnswer(func()) }); ok {
		l.OnLateAnswer(a.wake)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.retry.Base == 0 {
		a.retry.Base = time.Second
	}
	if a.retry.Max == 0 {
		a.retry.Max = time.Minute
	}
	a.info = Info{Kind: KindKeychain, Path: a.file.Path(), ChoicePath: a.choice}
	c, err := readChoice(a.choice)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		a.log.Warn("ignoring the remembered token store", "file", a.choice, "err", err)
	case c.Store == KindFile && !c.Cause.Absent():
		a.legacy = true
		a.log.Info("asking the OS keychain again: tokens went to a file only because it was locked or slow; they move to the keychain as they are renewed",
			"file", a.file.Path(), "cause", string(c.Cause))
	default:
		a.info.Kind, a.info.Cause, a.info.Reason, a.info.Since, a.info.Remembered = c.Store, c.Cause, c.Reason, c.Since, true
		if c.Store == KindFile {
			a.info.Fix = fixFor(c.Cause)
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
	return a.infoLocked()
}

func (a *Auto) infoLocked() Info {
	i := a.info
	i.Pending = len(a.pending)
	return i
}

// Probe asks the keychain once (unless the file is in use already), so
// that Info is settled before the first token is needed.
func (a *Auto) Probe(ctx context.Context) Info {
	if _, err := a.Get(ctx, "probe"); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		a.log.Debug("token store probe", "err", err)
	}
	return a.Info()
}

// Get implements Store. While the keychain is locked or slow it answers
// from memory, and ErrWaiting for a key memory does not hold.
func (a *Auto) Get(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if v, err, ok := a.memoryGet(key); ok {
		return v, err
	}
	switch s, kind := a.current(); kind {
	case KindFile:
		return s.Get(ctx, key)
	default:
		v, err := a.keychain.Get(ctx, key)
		if ue := a.answered(err); ue != nil {
			if a.fail(ue) {
				return a.file.Get(ctx, key)
			}
			if v, err, ok := a.memoryGet(key); ok {
				return v, err
			}
			return "", a.waitingError(ue.Cause)
		}
		if errors.Is(err, ErrNotFound) && a.hasLegacy() {
			return a.file.Get(ctx, key)
		}
		return v, err
	}
}

// Set implements Store. While the keychain is locked or slow the value
// waits in memory (and nil is returned).
func (a *Auto) Set(ctx context.Context, key, value string) error {
	return a.put(ctx, key, pendingValue{value: value})
}

// Delete implements Store. While the keychain is locked or slow the
// deletion waits in memory.
func (a *Auto) Delete(ctx context.Context, key string) error {
	return a.put(ctx, key, pendingValue{del: true})
}

func (a *Auto) put(ctx context.Context, key string, p pendingValue) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if !p.del {
		if err := checkValue(p.value); err != nil {
			return err
		}
	}
	if a.memoryPut(key, p) {
		a.dropLegacy(ctx, key)
		return nil
	}
	if _, kind := a.current(); kind == KindFile {
		return p.apply(ctx, a.file, key)
	}
	err := p.apply(ctx, a.keychain, key)
	if ue := a.answered(err); ue != nil {
		if a.fail(ue) {
			return p.apply(ctx, a.file, key)
		}
		a.memoryPut(key, p)
		a.dropLegacy(ctx, key)
		return nil
	}
	if err == nil {
		a.dropLegacy(ctx, key)
	}
	return err
}

// DeleteEverywhere removes key from the keychain, from memory and from the
// file, the one not in use too (for logout). It returns the first real
// failure; an unusable keychain is not one (a locked or slow one deletes
// it once it answers).
func (a *Auto) DeleteEverywhere(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	var kerr error
	if !a.memoryPut(key, pendingValue{del: true}) {
		kerr = a.keychain.Delete(ctx, key)
		if ue := a.answered(kerr); ue != nil {
			kerr = nil
			if !ue.Cause.Absent() {
				a.fail(ue)
				a.memoryPut(key, pendingValue{del: true})
			}
		}
	}
	ferr := a.file.Delete(ctx, key)
	return errors.Join(kerr, ferr)
}

// current returns the store in use.
func (a *Auto) current() (Store, Kind) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.info.Kind == KindFile {
		return a.file, KindFile
	}
	return a.keychain, a.info.Kind
}

// answered records that the keychain answered (err nil, not found, too
// big) and returns nil, or returns the *UnavailableError that says it did
// not.
func (a *Auto) answered(err error) *UnavailableError {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooBig) {
		a.settle()
	}
	return nil
}

// fail handles a keychain that did not answer: absent, it switches to the
// file for good (moving what waits in memory there) and returns true;
// locked or slow, it keeps values in memory and returns false.
func (a *Auto) fail(ue *UnavailableError) bool {
	if ue.Cause.Absent() {
		a.fallBack(ue)
		return true
	}
	a.startWaiting(ue)
	return false
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

// fallBack switches to the file, moves what waits in memory there, logs
// why (once) and remembers it.
func (a *Auto) fallBack(ue *UnavailableError) {
	a.mu.Lock()
	if a.info.Kind == KindFile {
		a.mu.Unlock()
		return
	}
	a.info = Info{Kind: KindFile, Path: a.file.Path(), Reason: ue.Describe(), Fix: fixFor(ue.Cause), Cause: ue.Cause, Since: a.now(), Remembered: true, ChoicePath: a.choice, Probed: true}
	a.legacy = false
	moved := a.pending
	a.pending = map[string]pendingValue{}
	info := a.infoLocked()
	c := choiceData{Store: KindFile, Cause: ue.Cause, Reason: ue.Describe(), Since: a.info.Since}
	a.mu.Unlock()
	a.log.Warn("OS keychain absent: keeping sign-in tokens in a private file instead (remembered for later starts)",
		"cause", string(ue.Cause), "reason", ue.Describe(), "err", ue.Err, "file", a.file.Path(), "choice", a.choice)
	for key, p := range moved {
		if err := p.apply(context.Background(), a.file, key); err != nil {
			a.log.Warn("cannot move a waiting token to the file; it is lost (sign in again)", "key", key, "err", err)
		}
	}
	if err := a.writeChoice(c); err != nil {
		a.log.Warn("cannot remember the token store", "file", a.choice, "err", err)
	}
	a.changed(info)
}

func (a *Auto) writeChoice(c choiceData) error {
	data, err := marshalJSON(c)
	if err != nil {
		return err
	}
	return writeAtomic(a.choice, data)
}

func (a *Auto) changed(info Info) {
	if a.onChange != nil {
		a.onChange(info)
	}
}

// fixFor says what a person can do about a keychain failure.
func fixFor(c Cause) string {
	switch c {
	case CauseNoBus, CauseNoService:
		return "for the OS keychain, run a Secret Service (gnome-keyring, KWallet) in your session"
	case CauseLocked:
		return "unlock the keyring (the desktop's unlock prompt, or Seahorse); the daemon stores the sign-in in it as soon as it answers"
	case CauseTimeout:
		return "answer the keyring's unlock prompt if one is open; the daemon asks the keychain again and stores the sign-in in it as soon as it answers"
	}
	return "the daemon asks the keychain again with backoff; see its log for the error"
}
