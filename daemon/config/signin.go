package config

import (
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
	"gopkg.in/yaml.v3"
)

// Sign-in defaults and bounds.
const (
	// DefaultAuthPort is the port of an edge's default auth_url.
	DefaultAuthPort = "7843"
	// DefaultSignInWait is how long a connection is held while the user
	// signs in.
	DefaultSignInWait = 2 * time.Minute
	// DefaultBrowserInterval is how often, at most, the daemon opens the
	// browser for one edge.
	DefaultBrowserInterval = 5 * time.Minute

	minSignInWait      = time.Second
	maxSignInWait      = time.Hour
	maxBrowserInterval = 24 * time.Hour
)

// SignIn tunes sign-in. Zero fields mean the defaults, which Validate fills
// in.
type SignIn struct {
	// Wait bounds how long a connection is held while the user signs in.
	Wait time.Duration
	// BrowserInterval is the shortest time between two browser opens for
	// one edge; in between the user gets a notification instead.
	BrowserInterval time.Duration
	// BrowserIntervalSet says BrowserInterval was given (0 is allowed:
	// always open the browser).
	BrowserIntervalSet bool
	Line               int
	lines              map[string]int
}

// UsesSignIn reports whether the cluster signs in at its edge (it has no
// service token).
func (c *Cluster) UsesSignIn() bool { return c.Token == "" && c.TokenFile == "" }

// SignInEdges returns the names of the edges that have a sign-in cluster,
// or take their clusters from a catalogue, in configuration order.
func (c *Config) SignInEdges() []string {
	var out []string
	for _, e := range c.Edges {
		if e.Catalogue {
			out = append(out, e.Name)
			continue
		}
		for i := range c.Clusters {
			if c.Clusters[i].Edge == e.Name && c.Clusters[i].UsesSignIn() {
				out = append(out, e.Name)
				break
			}
		}
	}
	return out
}

// SignInApps returns the app hostnames of the sign-in clusters on edge, in
// configuration order without repeats: the audience of its access token.
func (c *Config) SignInApps(edgeName string) []string {
	var out []string
	seen := map[string]bool{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.Edge == edgeName && cl.UsesSignIn() && !seen[cl.App] {
			seen[cl.App] = true
			out = append(out, cl.App)
		}
	}
	return out
}

func (c *Config) rootLine(key string) int {
	return c.rootLines[key]
}

func parseSignInRoot(p *problems, key string, v *yaml.Node, cfg *Config) {
	if cfg.rootLines == nil {
		cfg.rootLines = map[string]int{}
	}
	cfg.rootLines[key] = v.Line
	switch key {
	case "browser":
		cfg.Browser = str(p, v, "browser")
	case "sign_in":
		s := &cfg.SignIn
		s.Line, s.lines = v.Line, map[string]int{}
		fields(p, v, "sign_in", []string{"wait", "browser_interval"}, func(key string, _ int, v *yaml.Node) {
			field := "sign_in." + key
			s.lines[key] = v.Line
			d, ok := duration(p, v, field)
			if !ok {
				return
			}
			switch key {
			case "wait":
				s.Wait = d
			case "browser_interval":
				s.BrowserInterval, s.BrowserIntervalSet = d, true
			}
		})
	}
}

func duration(p *problems, n *yaml.Node, field string) (time.Duration, bool) {
	s := str(p, n, field)
	if s == "" {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.add(n.Line, field, "%q is not a duration such as 90s or 2m", s)
		return 0, false
	}
	return d, true
}

func (s *SignIn) line(key string) int {
	if l := s.lines[key]; l > 0 {
		return l
	}
	return s.Line
}

// validateSignIn checks the sign-in fields and fills in their defaults.
func (c *Config) validateSignIn(p *problems) {
	if strings.TrimSpace(c.Browser) == "" && c.Browser != "" {
		p.add(c.rootLine("browser"), "browser", "is blank: give a command, or leave it out")
	}
	s := &c.SignIn
	switch {
	case s.Wait == 0:
		s.Wait = DefaultSignInWait
	case s.Wait < minSignInWait || s.Wait > maxSignInWait:
		p.add(s.line("wait"), "sign_in.wait", "%s is out of range %s-%s", s.Wait, minSignInWait, maxSignInWait)
	}
	switch {
	case !s.BrowserIntervalSet && s.BrowserInterval == 0:
		s.BrowserInterval = DefaultBrowserInterval
	case s.BrowserInterval < 0 || s.BrowserInterval > maxBrowserInterval:
		p.add(s.line("browser_interval"), "sign_in.browser_interval", "%s is out of range 0s-%s", s.BrowserInterval, maxBrowserInterval)
	}
}

// validateAuthURL checks auth_url, or fills in its default from Address.
func (e *Edge) validateAuthURL(p *problems, path string) {
	field := path + ".auth_url"
	if e.AuthURL == "" {
		host, _, err := net.SplitHostPort(e.Address)
		if err != nil || host == "" {
			return // address is reported already
		}
		e.AuthURL = "https://" + net.JoinHostPort(host, DefaultAuthPort)
		return
	}
	u, err := url.Parse(e.AuthURL)
	switch {
	case err != nil:
		p.add(e.line("auth_url"), field, "%q is not a URL: %v", e.AuthURL, err)
	case u.Scheme != "https":
		p.add(e.line("auth_url"), field, "%q must be an https:// URL (sign-in sends refresh tokens to it)", e.AuthURL)
	case u.Host == "" || u.Hostname() == "":
		p.add(e.line("auth_url"), field, "%q has no host", e.AuthURL)
	case u.User != nil:
		p.add(e.line("auth_url"), field, "%q must not carry a user or password", e.AuthURL)
	case u.RawQuery != "" || u.Fragment != "":
		p.add(e.line("auth_url"), field, "%q must not have a query or fragment", e.AuthURL)
	default:
		if ip := net.ParseIP(u.Hostname()); ip == nil {
			if err := wire.CheckHostname(u.Hostname()); err != nil {
				p.add(e.line("auth_url"), field, "host: %v", err)
				return
			}
		}
		e.AuthURL = strings.TrimSuffix(u.String(), "/")
	}
}
