package edge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/wire"
)

// The sign-in server's pages for joining the edge (`airlock join`, the
// tray's airlock:// link): the public metadata, the edge's CA, the
// catalogue of the apps a person may use, and the /connect page. They
// sit beside the OAuth endpoints of package oauth on the same listener.

// joinSite serves the joining endpoints and hands every other request to
// next (the OAuth server).
type joinSite struct {
	s     *Server
	log   *slog.Logger
	next  http.Handler
	cache atomic.Pointer[joinState]
}

// joinState is what the endpoints serve of one config, built at its
// first request.
type joinState struct {
	cfg  *Config
	ca   []byte // tls.ca_file, nil without one
	inv  joinlink.Invite
	apps []joinApp // by hostname
	err  error     // reading a CA file failed
}

type joinApp struct {
	host string // lower-case
	app  joinlink.CatalogueApp
}

func newJoinSite(s *Server, next http.Handler) http.Handler {
	j := &joinSite{s: s, next: next, log: s.log.With("part", "join")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+joinlink.ConfigurationPath, j.configuration)
	mux.HandleFunc("GET "+joinlink.CAPath, j.caPEM)
	mux.HandleFunc("GET "+joinlink.CataloguePath, j.catalogue)
	mux.HandleFunc("GET "+joinlink.ConnectPath, j.connect)
	mux.Handle("/", next)
	return mux
}

// state is the joinState of the config in force.
func (j *joinSite) state() *joinState {
	cfg := j.s.cfg.Load()
	if st := j.cache.Load(); st != nil && st.cfg == cfg {
		return st
	}
	st := &joinState{cfg: cfg}
	st.ca, st.err = cfg.edgeCA()
	if st.err == nil {
		st.inv, st.err = cfg.Invite(j.s.PublicURL())
	}
	for _, a := range cfg.Apps {
		ja := joinApp{host: strings.ToLower(a.Hostname), app: joinlink.CatalogueApp{
			Hostname: strings.ToLower(a.Hostname), Name: a.ShortName(), DisplayName: a.Display(),
		}}
		if k := a.Kubernetes; k != nil {
			ck := &joinlink.CatalogueKube{Server: k.Server, TLSServerName: k.TLSServerName}
			ca, err := cfg.readKubeCA(k)
			if err != nil && st.err == nil {
				st.err = fmt.Errorf("app %s: kubernetes CA: %w", a.Hostname, err)
			}
			if ca != nil {
				ck.CAData = base64.StdEncoding.EncodeToString(ca)
			}
			if k.OIDC != nil {
				ck.OIDC = &joinlink.CatalogueOIDC{Audience: k.OIDC.Audience}
			}
			ja.app.Kubernetes = ck
		}
		st.apps = append(st.apps, ja)
	}
	slices.SortFunc(st.apps, func(a, b joinApp) int { return strings.Compare(a.host, b.host) })
	if st.err != nil {
		j.log.Error("the joining endpoints cannot serve this config", "err", st.err)
	}
	j.cache.Store(st)
	return st
}

// configuration serves the public metadata.
func (j *joinSite) configuration(w http.ResponseWriter, _ *http.Request) {
	st := j.state()
	base := strings.TrimRight(j.s.PublicURL(), "/")
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJoinJSON(w, http.StatusOK, joinlink.Configuration{
		Version: joinlink.Version, Fleet: st.cfg.Fleet(), ServerName: st.cfg.TLS.ServerName,
		Addresses: j.s.joinAddresses(st.cfg), AuthURL: base, Issuer: base,
		CatalogueEndpoint: base + joinlink.CataloguePath,
	})
}

// joinAddresses are the UDP addresses daemons dial: public_addrs when the
// config sets it; else the addresses the fleet's edges advertise (with
// store:); else the host of the sign-in URL with the QUIC port.
func (s *Server) joinAddresses(cfg *Config) []string {
	if cfg.publicAddrsSet {
		return slices.Clone(cfg.PublicAddrs)
	}
	if s.fleet != nil && s.fleet.store != nil {
		var out []string
		for _, m := range s.fleet.list.Load().Members {
			if !slices.Contains(out, m.Addr) {
				out = append(out, m.Addr)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	host := cfg.TLS.ServerName
	if u, err := url.Parse(s.PublicURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	_, port, _ := net.SplitHostPort(cfg.Listen)
	if a, ok := s.Addr().(*net.UDPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return []string{net.JoinHostPort(host, port)}
}

// caPEM serves tls.ca_file: what a daemon trusts for this edge once the
// fingerprint of its invitation matches.
func (j *joinSite) caPEM(w http.ResponseWriter, _ *http.Request) {
	st := j.state()
	switch {
	case st.ca == nil && st.err == nil:
		writeJoinError(w, http.StatusNotFound, "not_found", "this edge has no tls.ca_file: its certificate is from a CA the system trusts")
		return
	case st.ca == nil:
		writeJoinError(w, http.StatusInternalServerError, "server_error", "the edge cannot read its CA (see its log)")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(st.ca) //nolint:errcheck // the client went away
}

// catalogue serves the apps the bearer's policy lets them use now.
func (j *joinSite) catalogue(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="airlock"`)
		writeJoinError(w, http.StatusUnauthorized, "invalid_token", "no bearer token: sign in")
		return
	}
	snap, claims, err := j.s.person(tok)
	if err != nil {
		msg := err.Error()
		var we *wire.Error
		if errors.As(err, &we) {
			msg = we.Message
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="airlock", error="invalid_token"`)
		writeJoinError(w, http.StatusUnauthorized, "invalid_token", wire.TruncateText(msg))
		return
	}
	st := j.state()
	if st.err != nil {
		writeJoinError(w, http.StatusInternalServerError, "server_error", "the edge cannot read an app's kubernetes CA (see its log)")
		return
	}
	out := joinlink.Catalogue{Version: joinlink.Version, Fleet: st.cfg.Fleet(), Apps: []joinlink.CatalogueApp{}}
	for _, a := range st.apps {
		rt := snap.lookup(a.host)
		if rt == nil || rt.policy.check(claims.EmailKey(), claims.Groups) != nil {
			continue
		}
		if len(out.Apps) == joinlink.MaxCatalogueApps {
			j.log.Warn("a catalogue was cut at its limit of apps", "email", claims.Email, "limit", joinlink.MaxCatalogueApps)
			break
		}
		out.Apps = append(out.Apps, a.app)
	}
	b, err := json.Marshal(out)
	if err != nil || len(b) > joinlink.MaxCatalogue {
		j.log.Error("a catalogue is over its size limit: give fewer apps kubernetes CA data", "bytes", len(b), "limit", joinlink.MaxCatalogue, "err", err)
		writeJoinError(w, http.StatusInternalServerError, "server_error", fmt.Sprintf("the catalogue is over %d bytes", joinlink.MaxCatalogue))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Authorization")
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func writeJoinJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func writeJoinError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Del("Cache-Control")
	writeJoinJSON(w, status, joinlink.Error{Error: code, Description: desc})
}

// connectPage is the /connect page: the link that opens the tray's join
// and the command that does the same in a terminal. No scripts; every
// value is escaped by html/template.
var connectPage = template.Must(template.New("connect").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect to {{.Fleet}} · Airlock</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}
a.button{display:inline-block;padding:.6em 1.2em;background:#1f6feb;color:#fff;border-radius:6px;text-decoration:none}
pre{background:#f4f4f4;padding:.8em;overflow-x:auto}</style>
</head><body>
<h1>Connect to {{.Fleet}}</h1>
<p>With Airlock installed, this link opens it and joins this edge: you sign in, and every cluster you may use appears in your kubeconfig.</p>
<p><a class="button" href="{{.Link}}">Connect with Airlock</a></p>
<p>Or in a terminal:</p>
<pre><code>{{.Command}}</code></pre>
{{if .CA}}<p>The edge's certificate authority, which the link and the command check: <code>{{.CA}}</code></p>{{end}}
</body></html>
`))

// connect serves the /connect page.
func (j *joinSite) connect(w http.ResponseWriter, _ *http.Request) {
	st := j.state()
	if st.inv.Edge == "" {
		writeJoinError(w, http.StatusInternalServerError, "server_error", "the edge cannot make its invitation (see its log)")
		return
	}
	var buf bytes.Buffer
	err := connectPage.Execute(&buf, struct {
		Fleet, Command, CA string
		Link               template.URL // built by joinlink from a checked URL and fingerprint
	}{st.cfg.Fleet(), st.inv.Command(), st.inv.CA, template.URL(st.inv.Link())})
	if err != nil {
		j.log.Error("the connect page", "err", err)
		writeJoinError(w, http.StatusInternalServerError, "server_error", "the page failed")
		return
	}
	// The headers of package oauth's pages: no caching, framing or scripts.
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}
