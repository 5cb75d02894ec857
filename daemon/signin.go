package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/daemon/signin"
	"github.com/airlockhq/airlock/daemon/tokens"
)

// SignInOptions configure sign-in (clusters without a service token). The
// zero value keeps refresh tokens in the OS keychain, falling back to a
// file under $XDG_STATE_HOME/airlock, and opens the browser the
// configuration names (else $BROWSER, else the platform's opener).
type SignInOptions struct {
	// StateDir holds the fallback token file and the remembered choice;
	// empty means $XDG_STATE_HOME/airlock.
	StateDir string
	// Keychain replaces the OS keychain the store tries first (tests).
	Keychain keychain.Store
	// Browser opens sign-in URLs; nil means DefaultBrowser. NoBrowser says
	// none can be opened (the device flow is used).
	Browser   signin.Browser
	NoBrowser bool
	// Notifier tells the user about sign-ins the browser is not opened
	// for; nil means the log.
	Notifier signin.Notifier
	// HTTPClient replaces the client for an edge's sign-in endpoints.
	HTTPClient func(config.Edge) *http.Client
	// RefreshAt and Wait override signin's defaults (tests).
	RefreshAt float64
	Wait      time.Duration
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// signInPart is the daemon's sign-in: the manager and its token store.
type signInPart struct {
	m     *signin.Manager
	store *keychain.Auto
	core  *core.Core // set once the core exists
}

// newSignIn prepares sign-in when a cluster needs it, and points co's
// token sources and status at it. It returns nil when every cluster has a
// service token.
func newSignIn(cfg *config.Config, opts SignInOptions, log *slog.Logger, co *core.Options) (*signInPart, error) {
	if len(cfg.SignInEdges()) == 0 {
		return nil, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	dir := opts.StateDir
	if dir == "" {
		d, err := keychain.DefaultDir(getenv)
		if err != nil {
			return nil, err
		}
		dir = d
	}
	store, err := keychain.OpenAuto(keychain.AutoOptions{Dir: dir, Keychain: opts.Keychain, Logger: log})
	if err != nil {
		return nil, err
	}
	browser := opts.Browser
	if browser == nil && !opts.NoBrowser {
		browser = signin.DefaultBrowser(cfg.Browser, getenv, runtime.GOOS)
	}
	p := &signInPart{store: store}
	m, err := signin.New(signin.Options{
		Config: cfg, Store: store, Browser: browser, Notifier: opts.Notifier,
		Logger: log, HTTPClient: opts.HTTPClient, RefreshAt: opts.RefreshAt, Wait: opts.Wait,
		OnChange: func(s apitype.SignIn) {
			if p.core != nil {
				p.core.Publish(apitype.Event{Type: apitype.EventSignIn, Time: time.Now(), SignIn: &s})
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	p.m = m
	if browser == nil {
		log.Info("no browser can be opened here: sign-in uses the device flow (a URL and a code to enter on any device)")
	}
	prevTokens := co.Tokens
	co.Tokens = func(c config.Cluster) tokens.Source {
		if c.UsesSignIn() {
			return m.Source(c.Edge)
		}
		if prevTokens != nil {
			return prevTokens(c)
		}
		return core.ConfigTokens(c)
	}
	co.StatusExtra = p.status
	return p, nil
}

// status adds the token store and each edge's sign-in to st.
func (p *signInPart) status(st *apitype.Status) {
	info := p.store.Info()
	st.TokenStore = &apitype.TokenStore{
		Kind: string(info.Kind), Path: info.Path, Cause: string(info.Cause), Reason: info.Reason,
		Since: info.Since, Remembered: info.Remembered, ChoicePath: info.ChoicePath, Probed: info.Probed,
	}
	for i := range st.Edges {
		if s, ok := p.m.SignIn(st.Edges[i].Name); ok {
			st.Edges[i].SignIn = &s
		}
	}
}

// run asks the token store once (so status shows which store answers)
// and runs the manager until ctx ends.
func (p *signInPart) run(ctx context.Context) error {
	go p.store.Probe(ctx) // bounded by the keychain timeout
	return p.m.Run(ctx)
}
