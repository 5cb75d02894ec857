package signin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/keychain"
)

// memStore is an in-memory keychain.Store.
type memStore struct {
	mu   sync.Mutex
	m    map[string]string
	fail error
	sets int
}

func newMemStore() *memStore { return &memStore{m: map[string]string{}} }

func (s *memStore) Get(_ context.Context, k string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return "", s.fail
	}
	v, ok := s.m[k]
	if !ok {
		return "", keychain.ErrNotFound
	}
	return v, nil
}

func (s *memStore) Set(_ context.Context, k, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.sets++
	s.m[k] = v
	return nil
}

func (s *memStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *memStore) refreshToken(tb testing.TB, edge string) string {
	s.mu.Lock()
	v, ok := s.m[storeKey(edge)]
	s.mu.Unlock()
	if !ok {
		return ""
	}
	st, err := decodeStored(v)
	if err != nil {
		tb.Fatalf("stored value: %v", err)
	}
	return st.RefreshToken
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type noticeRecorder struct {
	mu      sync.Mutex
	notices []Notice
}

func (n *noticeRecorder) Notify(_ context.Context, x Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notices = append(n.notices, x)
}

func (n *noticeRecorder) all() []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notice(nil), n.notices...)
}

type rig struct {
	as      *fakeAS
	browser *testBrowser
	store   *memStore
	logs    *logBuffer
	notices *noticeRecorder
	cfg     *config.Config
	m       *Manager

	mu     sync.Mutex
	events []apitype.SignIn
}

type rigOptions struct {
	wait, interval, flow time.Duration
	refreshAt            float64
	noBrowser            bool
	browser              Browser  // replaces the test browser when set
	notifier             Notifier // replaces the notice recorder when set
	watched              func() bool
	store                *memStore
	as                   *fakeAS
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{as: o.as, store: o.store, logs: &logBuffer{}, notices: &noticeRecorder{}}
	if r.as == nil {
		r.as = newFakeAS(t)
	}
	if r.store == nil {
		r.store = newMemStore()
	}
	r.browser = &testBrowser{as: r.as}
	t.Cleanup(r.browser.wg.Wait)
	if o.wait == 0 {
		o.wait = 20 * time.Second
	}
	cfgWait := o.wait
	if cfgWait < time.Second {
		cfgWait = time.Second
	}
	r.cfg = &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844", AuthURL: r.as.url()}},
		Clusters: []config.Cluster{
			{Name: "a", App: "a.example.com"},
			{Name: "b", App: "b.example.com"},
			{Name: "svc", App: "svc.example.com", Token: "service-token"},
		},
		SignIn: config.SignIn{Wait: cfgWait, BrowserInterval: o.interval, BrowserIntervalSet: true},
	}
	if err := r.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Edge:        *r.cfg.Edge("main"),
		Apps:        r.cfg.SignInApps("main"),
		SignIn:      r.cfg.SignIn,
		Store:       r.store,
		Browser:     r.browser,
		Notifier:    r.notices,
		Logger:      slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient:  func(config.Edge) *http.Client { return r.as.srv.Client() },
		Wait:        o.wait,
		FlowTimeout: o.flow,
		RefreshAt:   o.refreshAt,
		OnChange: func(s apitype.SignIn) {
			r.mu.Lock()
			r.events = append(r.events, s)
			r.mu.Unlock()
		},
	}
	if o.noBrowser {
		opts.Browser = nil
	}
	if o.browser != nil {
		opts.Browser = o.browser
	}
	if o.notifier != nil {
		opts.Notifier = o.notifier
	}
	opts.Watched = o.watched
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		r.checkNoTokensLogged(t)
	})
	return r
}

func (r *rig) source() *edgeState { return r.m.Source().(*edgeState) }

// checkNoTokensLogged fails when any token the server issued appears in
// the log.
func (r *rig) checkNoTokensLogged(t *testing.T) {
	logs := r.logs.String()
	for _, tok := range r.as.tokens() {
		if strings.Contains(logs, tok) {
			t.Errorf("a token appears in the log: %.12s…", tok)
		}
		if i := strings.LastIndexByte(tok, '.'); i > 0 && strings.Contains(logs, tok[i+1:]) {
			t.Errorf("a token's signature appears in the log")
		}
	}
}

func (r *rig) eventStates() []apitype.SignInState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []apitype.SignInState
	for _, e := range r.events {
		if len(out) == 0 || out[len(out)-1] != e.State {
			out = append(out, e.State)
		}
	}
	return out
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func signInErr(tb testing.TB, err error) *Error {
	tb.Helper()
	var se *Error
	if !errors.As(err, &se) {
		tb.Fatalf("error %v (%T) is not a *signin.Error", err, err)
	}
	return se
}

func queryParam(tb testing.TB, raw, key string) string {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Query().Get(key)
}
