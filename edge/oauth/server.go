package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// revokedKeep is how long a revoked family stays in the per-stream
// revoked set: longer than any access token of it can live.
const revokedKeep = MaxAccessTTL + 10*time.Minute

// Options tune a [Server]. Store is required.
type Options struct {
	// Store keeps codes, refresh token families and device codes.
	Store Store
	// Logger receives operational logs (default: discarded). Tokens,
	// codes and passwords are never logged.
	Logger *slog.Logger
	// HTTPClient talks to the upstream OIDC provider (default: one with a
	// 15-second timeout).
	HTTPClient *http.Client
	// DeviceInterval is the polling interval of the device grant (default
	// DeviceInterval).
	DeviceInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the edge's OAuth 2.0 authorization server: see the package
// comment for its endpoints. Make one with [New], serve [Server.Handler],
// run [Server.Run] for housekeeping, and call [Server.Update] on every
// config reload.
type Server struct {
	log      *slog.Logger
	store    Store
	client   *http.Client
	interval time.Duration
	now      func() time.Time
	csrfKey  [32]byte

	cur      atomic.Pointer[state]
	revs     atomic.Pointer[revocations]
	revMu    sync.Mutex // serialises changes of revs
	seal     *sealer
	finished *finishedSet
	limits   *limits
}

// state is Settings compiled for requests.
type state struct {
	Settings
	apps     map[string]struct{}
	users    map[string]*User // lower-case email → user
	verifier *token.Verifier  // of the token exchange's subject tokens
	cluster  *token.ClusterSigner
	// upstreams are the providers by name, in Providers' order in order.
	upstreams map[string]*upstream
	order     []*upstream
}

// New returns a server with the given settings.
func New(ctx context.Context, set Settings, opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("oauth: no store")
	}
	s := &Server{
		log: opts.Logger, store: opts.Store, client: opts.HTTPClient,
		interval: opts.DeviceInterval, now: opts.Now,
		seal: newSealer(), finished: newFinishedSet(), limits: newLimits(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	if s.interval <= 0 {
		s.interval = DeviceInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	rand.Read(s.csrfKey[:]) //nolint:errcheck // crypto/rand.Read does not fail
	s.revs.Store(&revocations{})
	if err := s.Update(ctx, set); err != nil {
		return nil, err
	}
	return s, nil
}

// Update applies new settings (a config reload): users, the upstream
// provider, apps, keys, TTLs and revocations apply to the next request
// and the next stream.
func (s *Server) Update(ctx context.Context, set Settings) error {
	if set.Signer == nil {
		return errors.New("oauth: no signer")
	}
	if set.PublicURL == "" {
		return errors.New("oauth: no public URL")
	}
	set.PublicURL = strings.TrimRight(set.PublicURL, "/")
	if set.AccessTTL == 0 {
		set.AccessTTL = DefaultAccessTTL
	}
	if set.RefreshTTL == 0 {
		set.RefreshTTL = DefaultRefreshTTL
	}
	keys := set.Keys
	if len(keys) == 0 {
		keys = []wire.PublicKey{set.Signer.PublicKey()}
	}
	v, err := token.NewVerifier(keys, token.VerifierOptions{Now: s.now, CacheSize: -1})
	if err != nil {
		return fmt.Errorf("oauth: verification keys: %w", err)
	}
	cs, err := set.Signer.ClusterSigner()
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	ups := set.prepared
	if ups == nil && len(set.Providers) > 0 {
		if ups, err = s.prepareUpstreams(ctx, &set, false); err != nil {
			return err
		}
	}
	set.prepared = nil
	st := &state{Settings: set, apps: map[string]struct{}{}, users: map[string]*User{}, verifier: v, cluster: cs,
		upstreams: map[string]*upstream{}, order: ups}
	for _, u := range ups {
		st.upstreams[u.cfg.Name] = u
	}
	for _, a := range set.Apps {
		st.apps[strings.ToLower(a)] = struct{}{}
	}
	for i := range set.Users {
		u := &set.Users[i]
		st.users[strings.ToLower(u.Email)] = u
	}
	s.cur.Store(st)
	return s.refreshRevocations(ctx, set)
}

// SetKeys replaces the verification keys (the JWKS, and the token
// exchange's check of subject tokens) and nothing else: the edge calls it
// when the keys its fleet published change between config reloads.
func (s *Server) SetKeys(keys []wire.PublicKey) error {
	v, err := token.NewVerifier(keys, token.VerifierOptions{Now: s.now, CacheSize: -1})
	if err != nil {
		return fmt.Errorf("oauth: verification keys: %w", err)
	}
	keys = slices.Clone(keys)
	for {
		old := s.cur.Load()
		st := *old
		st.Keys, st.verifier = keys, v
		if s.cur.CompareAndSwap(old, &st) {
			return nil
		}
	}
}

// refreshRevocations applies the config's user revocations to the store
// and rebuilds the per-stream view from the store and the settings.
func (s *Server) refreshRevocations(ctx context.Context, set Settings) error {
	now := s.now()
	notBefore := map[string]time.Time{}
	for _, r := range set.Revocations {
		e := strings.ToLower(r.Email)
		before := r.Before.Truncate(time.Second)
		if before.After(notBefore[e]) {
			notBefore[e] = before
		}
		ids, err := s.store.RevokeUser(ctx, e, r.Before, now)
		if err != nil {
			return fmt.Errorf("oauth: revoke the sign-ins of %s: %w", e, err)
		}
		if len(ids) > 0 {
			s.log.Info("revoked refresh token families", "email", e, "families", len(ids))
		}
	}
	fams, err := s.store.RevokedSince(ctx, now.Add(-revokedKeep))
	if err != nil {
		return fmt.Errorf("oauth: load revoked families: %w", err)
	}
	rv := &revocations{families: make(map[string]time.Time, len(fams)), notBefore: notBefore, users: map[string]struct{}{}}
	for _, f := range fams {
		rv.families[f] = now
	}
	for _, u := range set.Users {
		rv.users[strings.ToLower(u.Email)] = struct{}{}
	}
	s.revMu.Lock()
	// Families revoked in memory while the store was read stay revoked
	// for as long as their access tokens may live.
	for f, at := range s.revs.Load().families {
		if _, ok := rv.families[f]; !ok && now.Sub(at) < revokedKeep {
			rv.families[f] = at
		}
	}
	s.revs.Store(rv)
	s.revMu.Unlock()
	return nil
}

// revoke adds a family to the per-stream revoked set.
func (s *Server) revoke(ids ...string) {
	if len(ids) == 0 {
		return
	}
	s.revMu.Lock()
	defer s.revMu.Unlock()
	old := s.revs.Load()
	rv := &revocations{families: make(map[string]time.Time, len(old.families)+len(ids)), notBefore: old.notBefore, users: old.users}
	for f, at := range old.families {
		rv.families[f] = at
	}
	now := s.now()
	for _, f := range ids {
		rv.families[f] = now
	}
	s.revs.Store(rv)
}

// Run does the housekeeping until ctx ends: every minute it drops expired
// codes, families and device codes from the store and forgets revoked
// families whose access tokens have all lapsed. With a store that pushes
// revocations ([RevocationWatcher]), it also adds the families revoked at
// other edges as they come.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watchRevocations(ctx)
	}()
	defer func() {
		cancel()
		<-watched
	}()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := s.now()
		if err := s.store.Collect(ctx, now, revokedKeep); err != nil && ctx.Err() == nil {
			s.log.Warn("sign-in store housekeeping failed", "err", err)
		}
		s.finished.purge(now)
		if err := s.refreshRevocations(ctx, s.cur.Load().Settings); err != nil && ctx.Err() == nil {
			s.log.Warn("sign-in revocations not refreshed", "err", err)
		}
	}
}

// Errors of [Server.CheckAccess].
var (
	ErrFamilyRevoked = errors.New("sign-in revoked")
	ErrUserRevoked   = errors.New("user's sign-ins revoked")
	ErrUserRemoved   = errors.New("user removed")
)

// revocations is the per-stream view, replaced whole on change.
type revocations struct {
	families  map[string]time.Time // revoked refresh token families → when
	notBefore map[string]time.Time // lower-case email → tokens issued before are refused
	users     map[string]struct{}  // the built-in user list (lower-case emails)
}

// CheckAccess is the per-stream revocation check of a verified token:
// access tokens from sign-in are refused when their family was revoked,
// when their user's sign-ins were revoked after they were issued, or when
// their user (of the built-in list) is no longer in the config. Service
// tokens pass. It costs a few map lookups.
func (s *Server) CheckAccess(c *token.Claims) error {
	if c.Kind != token.KindAccess {
		return nil
	}
	rv := s.revs.Load()
	if _, ok := rv.families[c.Family]; ok && c.Family != "" {
		return fmt.Errorf("%w: the sign-in of %s was revoked (sign in again)", ErrFamilyRevoked, c.Email)
	}
	if nb, ok := rv.notBefore[c.Email]; ok && c.IssuedAt.Before(nb) {
		return fmt.Errorf("%w: the sign-ins of %s before %s were revoked (sign in again)", ErrUserRevoked, c.Email, nb.UTC().Format(time.RFC3339))
	}
	if c.IDP == IDPUsers {
		if _, ok := rv.users[c.Email]; !ok {
			return fmt.Errorf("%w: %s is no longer in the edge's user list", ErrUserRemoved, c.Email)
		}
	}
	return nil
}

// Handler serves the endpoints: the protocol endpoints through
// zitadel/oidc (op.go), bounded by parseForm, and the browser's pages.
func (s *Server) Handler() http.Handler {
	lib := s.bounded(s.opHandler())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	mux.Handle("GET /.well-known/openid-configuration", lib)
	mux.Handle("GET "+pathJWKS, lib)
	mux.Handle("POST "+pathToken, lib)
	mux.Handle("POST "+pathDeviceCode, lib)
	mux.Handle("POST "+pathRevoke, lib)
	mux.HandleFunc("GET "+pathAuthorize, s.authorize)
	mux.HandleFunc("POST /oauth/login", s.login)
	mux.HandleFunc("GET /oauth/upstream", s.upstreamStart)
	mux.HandleFunc("GET "+callbackPath, s.upstreamCallback)
	mux.HandleFunc("GET "+callbackPath+"/{provider}", s.upstreamCallback)
	mux.HandleFunc("GET /device", s.devicePage)
	mux.HandleFunc("POST /device", s.deviceSubmit)
	mux.HandleFunc("GET /{$}", s.home)
	return mux
}

// issue makes a new family and its first tokens for id. The access
// token names the apps asked for (none: every app) that exist and that
// the policy allows id; none allowed is access_denied.
func (s *Server) issue(ctx context.Context, id Identity, audience []string, clientID, nonce string) (*tokenResponse, string, error) {
	st := s.cur.Load()
	aud, perr := st.resolveAudience(audience)
	if perr != nil {
		return nil, "", perr
	}
	aud, denied := st.permit(id, aud)
	if len(aud) == 0 {
		s.log.Info("tokens refused by the apps' policy", "email", id.Email, "idp", id.IDP, "apps", denied.apps)
		return nil, "", denied.protoError()
	}
	now := s.now()
	refresh := newSecret(refreshPrefix)
	f := Family{
		ID: newSecret("")[:22], ClientID: clientID, Identity: id, Audience: audience,
		Created: now, Expires: now.Add(st.RefreshTTL), Current: key(refresh),
	}
	end := st.sessionEnd(id, now)
	if !end.IsZero() && end.Before(f.Expires) {
		f.Expires = end
	}
	access, ttl, err := st.sign(id, aud, f.ID, now, end)
	if err != nil {
		return nil, "", err
	}
	idt, err := st.idToken(id, nonce, access, now, now)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateFamily(ctx, f); err != nil {
		return nil, "", fmt.Errorf("store the sign-in: %w", err)
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: refresh, IDToken: idt, Audience: aud,
	}, f.ID, nil
}

// resolveAudience returns the requested apps that exist (every app when
// none is requested).
func (st *state) resolveAudience(requested []string) ([]string, *protoError) {
	var aud []string
	if len(requested) == 0 {
		for a := range st.apps {
			aud = append(aud, a)
		}
		slices.Sort(aud)
	} else {
		for _, a := range requested {
			if _, ok := st.apps[a]; ok {
				aud = append(aud, a)
			}
		}
	}
	if len(aud) == 0 {
		if len(requested) == 0 {
			return nil, &protoError{http.StatusBadRequest, "invalid_target", "this edge has no apps yet"}
		}
		return nil, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("no app %s at this edge", strings.Join(requested, ", "))}
	}
	return aud, nil
}

// sessionEnd is when a sign-in of id made at created ends for good: an
// upstream sign-in lasts the provider's session lifetime; the built-in
// user list has none (zero), the refresh token's own expiry applies.
func (st *state) sessionEnd(id Identity, created time.Time) time.Time {
	if id.IDP != IDPOIDC {
		return time.Time{}
	}
	return created.Add(st.upstreamConfig(id.Provider).sessionLifetime())
}

// sign makes an access token, valid for AccessTTL but not past end (zero:
// no end), and returns it with its lifetime.
func (st *state) sign(id Identity, aud []string, family string, now, end time.Time) (string, time.Duration, error) {
	exp := now.Add(st.AccessTTL)
	if !end.IsZero() && end.Before(exp) {
		exp = end
	}
	tok, err := st.Signer.Sign(token.Claims{
		Subject: id.Subject, Email: id.Email, Groups: id.Groups, Audience: aud,
		IssuedAt: now, NotBefore: now, ExpiresAt: exp,
		Kind: token.KindAccess, Family: family, IDP: id.IDP, IDPName: id.Provider,
	})
	if err != nil {
		return "", 0, fmt.Errorf("sign the access token: %w", err)
	}
	if len(tok) > wire.MaxTokenLen {
		return "", 0, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("a token for %d apps is %d bytes, over the %d-byte limit: ask for the apps you need with audience", len(aud), len(tok), wire.MaxTokenLen)}
	}
	return tok, exp.Sub(now), nil
}

// localIdentity is the identity of a built-in user.
func localIdentity(u *User) Identity {
	e := strings.ToLower(u.Email)
	return Identity{Subject: e, Email: e, Groups: slices.Clone(u.Groups), IDP: IDPUsers}
}
