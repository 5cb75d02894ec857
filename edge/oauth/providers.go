package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"
)

// callbackPath is where upstream providers send the browser back (also
// served as callbackPath/NAME, for a redirect_uri naming its provider).
const callbackPath = "/oauth/callback"

// checkTimeout bounds the check of one provider at start or reload.
const checkTimeout = 20 * time.Second

// ProviderError says what is wrong with an upstream provider, naming it.
type ProviderError struct {
	Provider, Issuer string
	// Unavailable says the provider did not answer (network, TLS, a 5xx)
	// rather than answering that the config is wrong.
	Unavailable bool
	Err         error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("identity provider %s (%s): %v", e.Provider, e.Issuer, e.Err)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// upstream is one compiled provider. An unchanged provider (same key)
// keeps its discovered metadata across reloads.
type upstream struct {
	cfg      OIDCConfig
	secret   string
	client   *http.Client
	redirect string
	scopes   []string
	key      string

	mu   sync.Mutex
	prov *oidc.Provider
}

func (u *upstream) fail(unavailable bool, format string, args ...any) *ProviderError {
	return &ProviderError{Provider: u.cfg.Name, Issuer: u.cfg.Issuer, Unavailable: unavailable, Err: fmt.Errorf(format, args...)}
}

// provider returns the discovered provider, discovering it if need be (a
// failure is tried again on the next sign-in).
func (u *upstream) provider(ctx context.Context) (*oidc.Provider, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.prov != nil {
		return u.prov, nil
	}
	p, err := u.discover(ctx)
	if err != nil {
		return nil, err
	}
	u.prov = p
	return p, nil
}

// discover reads the discovery document, telling an unreachable provider
// (network, TLS, 5xx) from a wrong issuer (4xx, or an issuer that is not
// exactly the configured one).
func (u *upstream) discover(ctx context.Context) (*oidc.Provider, error) {
	doc := strings.TrimSuffix(u.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return nil, u.fail(false, "discovery document URL: %w", err)
	}
	res, err := u.client.Do(req)
	if err != nil {
		return nil, u.fail(true, "cannot reach the discovery document: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) //nolint:errcheck // drained for reuse
	res.Body.Close()
	switch {
	case res.StatusCode >= 500:
		return nil, u.fail(true, "the discovery document %s answered %s", doc, res.Status)
	case res.StatusCode != http.StatusOK:
		return nil, u.fail(false, "no discovery document at %s (%s): check the issuer URL", doc, res.Status)
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, u.client), u.cfg.Issuer)
	if err != nil {
		if ctx.Err() != nil {
			return nil, u.fail(true, "discovery: %w", err)
		}
		// Chiefly "issuer did not match": the issuer must be exactly the
		// document's, trailing slash included.
		return nil, u.fail(false, "discovery: %w", err)
	}
	return p, nil
}

func (u *upstream) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: u.cfg.ClientID, ClientSecret: u.secret,
		Endpoint: p.Endpoint(), RedirectURL: u.redirect, Scopes: u.scopes,
	}
}

// checkClient redeems a code that does not exist: a provider that knows
// the client (and its secret) answers invalid_grant; one that does not,
// invalid_client or unauthorized_client.
func (u *upstream) checkClient(ctx context.Context, p *oidc.Provider) error {
	_, err := u.oauth2Config(p).Exchange(oidc.ClientContext(ctx, u.client), "airlock-edge-client-check",
		oauth2.VerifierOption(oauth2.GenerateVerifier()))
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client":
			return u.fail(false, "the provider refused the client %q (%s %s): check client_id and the client secret", u.cfg.ClientID, re.ErrorCode, re.ErrorDescription)
		}
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return u.fail(true, "its token endpoint answered %s", re.Response.Status)
		}
		return nil
	default:
		return u.fail(true, "cannot reach its token endpoint: %w", err)
	}
}

// check discovers the provider and checks its client.
func (u *upstream) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	p, err := u.discover(ctx)
	if err != nil {
		return err
	}
	if err := u.checkClient(ctx, p); err != nil {
		return err
	}
	u.mu.Lock()
	u.prov = p
	u.mu.Unlock()
	return nil
}

// compileUpstream reads a provider's files and fills its defaults; prev
// is the running one of the same name (nil: none), kept when unchanged.
func (s *Server) compileUpstream(o OIDCConfig, publicURL string, groupsUsed bool, prev *upstream) (*upstream, error) {
	u := &upstream{cfg: o, secret: o.ClientSecret, client: s.client, redirect: o.RedirectURI, scopes: o.scopes(groupsUsed)}
	fail := func(format string, args ...any) error { return u.fail(false, format, args...) }
	if o.ClientSecretFile != "" {
		b, err := readBounded(o.ClientSecretFile, maxSecretFileBytes)
		if err != nil {
			return nil, fail("client_secret_file: %w", err)
		}
		if u.secret = strings.TrimSpace(string(b)); u.secret == "" {
			return nil, fail("client_secret_file %s is empty", o.ClientSecretFile)
		}
	}
	var ca []byte
	if o.CAFile != "" {
		var err error
		if ca, err = readBounded(o.CAFile, maxCAFileBytes); err != nil {
			return nil, fail("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fail("ca_file %s holds no PEM certificate", o.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		u.client = &http.Client{Transport: tr, Timeout: s.client.Timeout}
	}
	if u.redirect == "" {
		u.redirect = strings.TrimRight(publicURL, "/") + callbackPath
	}
	cfgJSON, _ := json.Marshal(o) // map keys sorted
	h := sha256.New()
	for _, part := range [][]byte{cfgJSON, []byte(u.secret), ca, []byte(u.redirect), []byte(strings.Join(u.scopes, " "))} {
		h.Write(part)
		h.Write([]byte{0})
	}
	u.key = hex.EncodeToString(h.Sum(nil))
	if prev != nil && prev.key == u.key {
		return prev, nil
	}
	return u, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

// Prepare checks set's upstream providers before a reload applies it:
// each new or changed one must serve its discovery document under exactly
// its issuer and accept its client. The first failure is returned, a
// [*ProviderError] naming the provider and the cause, and the running
// settings stay; unchanged providers are not asked again. [Server.Update]
// with the prepared set then applies it without asking again.
func (s *Server) Prepare(ctx context.Context, set *Settings) error {
	ups, err := s.prepareUpstreams(ctx, set, true)
	if err != nil {
		return err
	}
	set.prepared = ups
	return nil
}

// prepareUpstreams compiles and checks set's providers. With strict, a
// new or changed provider that does not answer is an error; without (at
// start) it is logged, and discovered again at the first sign-in, so
// that an edge starts while its provider is down.
func (s *Server) prepareUpstreams(ctx context.Context, set *Settings, strict bool) ([]*upstream, error) {
	prev := map[string]*upstream{}
	if st := s.cur.Load(); st != nil {
		prev = st.upstreams
	}
	ups := make([]*upstream, 0, len(set.Providers))
	var fresh []*upstream
	for _, o := range set.Providers {
		u, err := s.compileUpstream(o, set.PublicURL, set.GroupsUsed, prev[o.Name])
		if err != nil {
			return nil, err
		}
		ups = append(ups, u)
		if u != prev[o.Name] {
			fresh = append(fresh, u)
		}
	}
	errs := make([]error, len(fresh))
	var g errgroup.Group
	for i, u := range fresh {
		g.Go(func() error { errs[i] = u.check(ctx); return nil })
	}
	g.Wait() //nolint:errcheck // errors are in errs
	for i, u := range fresh {
		var pe *ProviderError
		switch err := errs[i]; {
		case err == nil:
			s.log.Info("identity provider ready; it must have this redirect URI registered for the client",
				"provider", u.cfg.Name, "issuer", u.cfg.Issuer, "client_id", u.cfg.ClientID, "redirect_uri", u.redirect, "scopes", u.scopes)
		case strict || !errors.As(err, &pe) || !pe.Unavailable:
			return nil, err
		default:
			s.log.Error("identity provider unavailable at start; sign-ins through it fail until it answers",
				"provider", u.cfg.Name, "issuer", u.cfg.Issuer, "redirect_uri", u.redirect, "err", err)
		}
	}
	return ups, nil
}
