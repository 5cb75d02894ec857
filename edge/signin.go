package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// Sign-in defaults.
const (
	DefaultHTTPPort   = "7843"
	DefaultHTTPListen = "127.0.0.1:" + DefaultHTTPPort
	DefaultStoreFile  = "signin.db"
	DefaultRefreshTTL = 30 * 24 * time.Hour
	// HTTPOff as http_listen turns the sign-in server off.
	HTTPOff = "off"
)

// signInDefaults fills the sign-in fields of a config.
func (c *Config) signInDefaults() {
	if c.HTTPListen == "" {
		c.HTTPListen = defaultHTTPListen(c.Listen)
	}
	if c.StoreFile == "" {
		c.StoreFile = DefaultStoreFile
	}
	if c.Tokens.RefreshTTL == 0 {
		c.Tokens.RefreshTTL = Duration(DefaultRefreshTTL)
	}
}

// defaultHTTPListen is port 7843 on the QUIC listener's host when that is
// a loopback address (so edges on 127.x.y.z addresses do not collide),
// else 127.0.0.1:7843: sign-in stays on loopback unless configured.
func defaultHTTPListen(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return net.JoinHostPort(host, DefaultHTTPPort)
	}
	return DefaultHTTPListen
}

func (c *Config) validateSignIn(v *validator) {
	if c.HTTPListen != HTTPOff {
		v.hostPort("http_listen", c.HTTPListen)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			v.add("public_url", fmt.Sprintf("%q is not an https://HOST[:PORT] base URL", c.PublicURL))
		}
	}
	if ttl := time.Duration(c.Tokens.AccessTTL); ttl < oauth.MinAccessTTL || ttl > oauth.MaxAccessTTL {
		v.add("tokens.access_ttl", fmt.Sprintf("%s is outside [%s, %s]", ttl, oauth.MinAccessTTL, oauth.MaxAccessTTL))
	}
	if c.Tokens.RefreshTTL < 0 {
		v.add("tokens.refresh_ttl", "must be positive")
	}
	if c.OIDC != nil && len(c.OIDCProviders) > 0 {
		v.add("oidc", "set oidc_providers (a list, each with a name) or the single oidc section, not both: move this one into oidc_providers with name: "+oauth.DefaultProviderName)
	}
	for _, group := range [][]oauth.FieldError{oauth.ValidateUsers(c.Users), oauth.ValidateOIDC(c.OIDC), oauth.ValidateProviders(c.OIDCProviders), oauth.ValidateRevocations(c.Revocations)} {
		for _, e := range group {
			v.add(e.Field, e.Msg)
		}
	}
}

// publicURL is the configured public_url, else https://SERVER_NAME:PORT
// with the port the sign-in listener has.
func (c *Config) publicURL(bound net.Addr) string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	port := DefaultHTTPPort
	if _, p, err := net.SplitHostPort(c.HTTPListen); err == nil {
		port = p
	}
	if a, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return "https://" + net.JoinHostPort(c.TLS.ServerName, port)
}

// signInSettings is what the authorization server takes from cfg.
func (c *Config) signInSettings(bound net.Addr, keys []wire.PublicKey) (oauth.Settings, error) {
	signer, err := c.Signer()
	if err != nil {
		return oauth.Settings{}, err
	}
	apps := make([]string, 0, len(c.Apps))
	for _, a := range c.Apps {
		apps = append(apps, a.Hostname)
	}
	clusterKeys, err := c.clusterKeys()
	if err != nil {
		return oauth.Settings{}, err
	}
	return oauth.Settings{
		PublicURL: c.publicURL(bound), Signer: signer, Keys: keys,
		AccessTTL: time.Duration(c.Tokens.AccessTTL), RefreshTTL: time.Duration(c.Tokens.RefreshTTL),
		Apps: apps, KubeAudiences: c.kubeAudiences(), ClusterKeys: clusterKeys, Users: c.Users,
		Providers: c.providers(), GroupsUsed: c.groupsUsed(), Revocations: c.Revocations,
		Policy: signInPolicy(compile(c)),
	}, nil
}

// providers are the upstream OIDC providers: oidc_providers, or the
// single oidc section named oauth.DefaultProviderName; their file paths
// resolved against the config's folder.
func (c *Config) providers() []oauth.OIDCConfig {
	ps := slices.Clone(c.OIDCProviders)
	if c.OIDC != nil {
		o := *c.OIDC
		if o.Name == "" {
			o.Name = oauth.DefaultProviderName
		}
		ps = append(ps, o)
	}
	for i := range ps {
		ps[i].ClientSecretFile, ps[i].CAFile = c.Path(ps[i].ClientSecretFile), c.Path(ps[i].CAFile)
	}
	return ps
}

// groupsUsed says whether an app's policy names groups or an app has a
// Kubernetes identity (whose credential carries the groups): then the
// upstream providers are asked for their groups scope.
func (c *Config) groupsUsed() bool {
	for _, a := range c.Apps {
		if len(a.Policy.Allow.Groups) > 0 || len(a.Policy.Deny.Groups) > 0 || a.Kubernetes != nil && a.Kubernetes.OIDC != nil {
			return true
		}
	}
	return false
}

// signInPolicy is the per-stream policy check of snap's apps, for the
// sign-in server: it hands out tokens only for apps a stream would open.
func signInPolicy(snap *snapshot) oauth.PolicyFunc {
	return func(app, email string, groups []string) error {
		rt := snap.lookup(app)
		if rt == nil {
			return wire.Errorf(wire.CodeUnknownApp, "no app %s at this edge", app)
		}
		return rt.policy.check(email, groups)
	}
}

// signIn is the edge's HTTPS sign-in server.
type signIn struct {
	auth  *oauth.Server
	store oauth.Store // the server's, closed by it
	ln    net.Listener
	srv   *http.Server
}

// newSignIn binds the HTTPS listener of the sign-in server on store st,
// which the caller opened and closes (nil when http_listen is off).
func newSignIn(cfg *Config, log *slog.Logger, keys []wire.PublicKey, cert tls.Certificate, st oauth.Store) (_ *signIn, err error) {
	if cfg.HTTPListen == HTTPOff {
		return nil, nil
	}
	si := &signIn{store: st}
	defer func() {
		if err != nil {
			si.close()
		}
	}()
	if si.ln, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		return nil, fmt.Errorf("http_listen: %w", err)
	}
	set, err := cfg.signInSettings(si.ln.Addr(), keys)
	if err != nil {
		return nil, err
	}
	si.auth, err = oauth.New(context.Background(), set, oauth.Options{Store: si.store, Logger: log.With("part", "signin")})
	if err != nil {
		return nil, err
	}
	si.srv = &http.Server{
		Handler:           si.auth.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		// TLS handshake noise (scanners, browsers probing) at debug.
		ErrorLog: slog.NewLogLogger(log.With("part", "signin").Handler(), slog.LevelDebug),
	}
	return si, nil
}

// run serves until ctx ends.
func (si *signIn) run(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error {
		if err := si.srv.ServeTLS(si.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("sign-in server: %w", err)
		}
		return nil
	})
	g.Go(func() error { return si.auth.Run(ctx) })
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		si.srv.Shutdown(sctx) //nolint:errcheck // Close covers a timeout
		si.srv.Close()
		return nil
	})
}

func (si *signIn) close() {
	if si == nil {
		return
	}
	if si.ln != nil {
		si.ln.Close()
	}
}

// HTTPAddr is the TCP address of the HTTPS sign-in server, nil when off.
func (s *Server) HTTPAddr() net.Addr {
	if s.signIn == nil {
		return nil
	}
	return s.signIn.ln.Addr()
}

// PublicURL is the sign-in server's base URL ("" when off).
func (s *Server) PublicURL() string {
	if s.signIn == nil {
		return ""
	}
	return s.cfg.Load().publicURL(s.signIn.ln.Addr())
}

// prepareSignIn builds the settings of a reloaded config before anything
// is swapped, so a bad key file leaves the running config alone.
func (s *Server) prepareSignIn(cfg *Config, keys []wire.PublicKey) (*oauth.Settings, error) {
	if s.signIn == nil {
		return nil, nil
	}
	set, err := cfg.signInSettings(s.signIn.ln.Addr(), keys)
	if err != nil {
		return nil, err
	}
	// The upstream providers are checked now: a new or changed one that
	// is unreachable, names another issuer or refuses its client fails
	// the reload, and the running config stays.
	if err := s.signIn.auth.Prepare(context.Background(), &set); err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	return &set, nil
}

func (s *Server) applySignIn(set *oauth.Settings) error {
	if s.signIn == nil || set == nil {
		return nil
	}
	return s.signIn.auth.Update(context.Background(), *set)
}

// accessError maps a revocation refusal to the stream's refusal code.
func accessError(err error) error {
	if errors.Is(err, oauth.ErrUserRemoved) {
		return wire.Errorf(wire.CodeForbidden, "%v", err)
	}
	return wire.Errorf(wire.CodeUnauthenticated, "%v", err)
}

// accessChecker is the per-stream revocation check of sign-in tokens.
type accessChecker interface {
	CheckAccess(*token.Claims) error
}
