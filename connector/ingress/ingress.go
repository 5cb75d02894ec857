// Package ingress holds a connector's ingress rules: an ordered list that
// maps an app hostname to the one origin the connector may dial for it, as
// tcp://host:port. The first rule that matches wins, and the list always
// ends with a deny-all, so a connector is never an open proxy (the same
// contract as cloudflared's ingress rules).
//
// Rules come from --ingress flags (HOSTNAME=SERVICE), a --url shorthand (a
// catch-all) or the ingress section of a YAML file; all of them are checked
// by [New], whose errors name the rule and where it was written.
package ingress

import (
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/wire"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ServiceDeny is the service of a rule that refuses its hostnames.
const ServiceDeny = "deny"

// Rule is one ingress rule as written. New checks and compiles it.
type Rule struct {
	// Hostname is the app hostname the rule serves: "k8s.example.com",
	// "*.example.com" (any name under example.com, not example.com itself),
	// or "" or "*" for every hostname.
	Hostname string `yaml:"hostname"`
	// Service is "tcp://host:port", the only origin the connector dials for
	// a matching app, or "deny".
	Service string `yaml:"service"`
	// Source says where the rule was written, for errors and logs, e.g.
	// `--ingress #2` or `connector.yaml ingress[0]`.
	Source string `yaml:"-"`

	host     string // normalised exact hostname, or the suffix of a wildcard
	wildcard bool
	catchAll bool
	origin   string // host:port
	deny     bool
}

// Origin returns the host:port the rule dials, or "" for a deny rule.
func (r *Rule) Origin() string { return r.origin }

// Deny reports whether the rule refuses its hostnames.
func (r *Rule) Deny() bool { return r.deny }

// CatchAll reports whether the rule matches every hostname.
func (r *Rule) CatchAll() bool { return r.catchAll }

// Name says which rule this is, for errors and logs.
func (r *Rule) Name() string {
	h := r.Hostname
	if r.catchAll {
		h = "every hostname"
	}
	if r.Source == "" {
		return fmt.Sprintf("rule for %s", h)
	}
	return fmt.Sprintf("%s (%s)", r.Source, h)
}

// String returns "HOSTNAME=SERVICE", the flag form of the rule.
func (r *Rule) String() string {
	h := r.Hostname
	if r.catchAll {
		h = "*"
	}
	return h + "=" + r.Service
}

// Matches reports whether the rule serves the app hostname, which must be
// normalised with Normalize.
func (r *Rule) Matches(app string) bool {
	switch {
	case r.catchAll:
		return true
	case r.wildcard:
		return len(app) > len(r.host)+1 && strings.HasSuffix(app, r.host) && app[len(app)-len(r.host)-1] == '.'
	default:
		return app == r.host
	}
}

// Normalize lowercases a hostname and drops one trailing dot.
func Normalize(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Rules is a checked, ordered list of rules ending with a catch-all. The
// zero value is not usable; use New.
type Rules struct {
	rules []Rule
}

// New checks rules in order and returns them with a deny-all appended unless
// the last one already matches every hostname. It refuses a malformed rule,
// a rule that an earlier one makes unreachable, and a list that allows
// nothing, naming the rule at fault.
func New(rules []Rule) (*Rules, error) {
	out := make([]Rule, 0, len(rules)+1)
	for i, r := range rules {
		if r.Source == "" {
			r.Source = fmt.Sprintf("ingress rule %d", i+1)
		}
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Source, err)
		}
		for j := range out {
			if out[j].shadows(&r) {
				return nil, fmt.Errorf("%s is never used: %s before it matches every hostname it does", r.Name(), out[j].Name())
			}
		}
		out = append(out, r)
	}
	allows := false
	for i := range out {
		allows = allows || !out[i].deny
	}
	if !allows {
		return nil, errors.New("no ingress rule allows any hostname: add --ingress HOSTNAME=tcp://HOST:PORT, --url or an ingress section")
	}
	if !out[len(out)-1].catchAll {
		out = append(out, Rule{Service: ServiceDeny, Source: "the implicit deny-all", catchAll: true, deny: true})
	}
	return &Rules{rules: out}, nil
}

// Match returns the first rule that serves app. The last rule matches every
// hostname, so Match always returns one; check Deny.
func (rs *Rules) Match(app string) *Rule {
	app = Normalize(app)
	for i := range rs.rules {
		if rs.rules[i].Matches(app) {
			return &rs.rules[i]
		}
	}
	panic("ingress: rules without a catch-all") // New guarantees one
}

// All returns the rules in order, the final catch-all included.
func (rs *Rules) All() []Rule { return append([]Rule(nil), rs.rules...) }

// Origins returns the distinct origins the rules may dial.
func (rs *Rules) Origins() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs.rules {
		if r.origin != "" && !seen[r.origin] {
			seen[r.origin] = true
			out = append(out, r.origin)
		}
	}
	return out
}

func (r *Rule) compile() error {
	h := Normalize(strings.TrimSpace(r.Hostname))
	switch {
	case h == "" || h == "*":
		r.catchAll = true
	case strings.HasPrefix(h, "*."):
		if err := wire.CheckHostname(h[2:]); err != nil {
			return fmt.Errorf("hostname %q: %w", r.Hostname, err)
		}
		r.wildcard, r.host = true, h[2:]
	default:
		if strings.Contains(h, "*") {
			return fmt.Errorf("hostname %q: a wildcard must be the whole first label, as in *.example.com", r.Hostname)
		}
		if err := wire.CheckHostname(h); err != nil {
			return fmt.Errorf("hostname %q: %w", r.Hostname, err)
		}
		r.host = h
	}
	svc := strings.TrimSpace(r.Service)
	if svc == ServiceDeny {
		r.deny = true
		return nil
	}
	origin, err := ParseService(svc)
	if err != nil {
		return err
	}
	r.origin = origin
	return nil
}

// shadows reports whether r matches every hostname that later matches, so
// that later can never be chosen.
func (r *Rule) shadows(later *Rule) bool {
	switch {
	case r.catchAll:
		return true
	case later.catchAll:
		return false
	case r.wildcard:
		// *.a.com hides x.a.com, *.x.a.com and *.a.com itself.
		return later.wildcard && later.host == r.host || r.Matches(later.host)
	default:
		return !later.wildcard && later.host == r.host
	}
}

// ParseService checks a service of the form tcp://host:port and returns
// host:port. The host may be a DNS name or an IP address.
func ParseService(s string) (string, error) {
	if s == "" {
		return "", errors.New("service is missing: want tcp://HOST:PORT or deny")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("service %q is not a URL: want tcp://HOST:PORT or deny", s)
	}
	switch {
	case u.Scheme != "tcp":
		return "", fmt.Errorf("service %q: the scheme must be tcp, as in tcp://HOST:PORT, or the service deny", s)
	case u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("service %q: want only tcp://HOST:PORT, with no user, path or query", s)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("service %q has no host", s)
	}
	if port == "" {
		return "", fmt.Errorf("service %q has no port", s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("service %q has a bad port %q", s, port)
	}
	if net.ParseIP(host) == nil {
		if err := wire.CheckHostname(host); err != nil {
			return "", fmt.Errorf("service %q: %w", s, err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// ParseFlag parses the flag form HOSTNAME=SERVICE, e.g.
// "k8s.example.com=tcp://10.0.0.1:6443" or "*.example.com=deny". It splits
// only; New checks the parts.
func ParseFlag(s, source string) (Rule, error) {
	host, svc, ok := strings.Cut(s, "=")
	if !ok {
		return Rule{}, fmt.Errorf("%s %q: want HOSTNAME=tcp://HOST:PORT or HOSTNAME=deny", source, s)
	}
	return Rule{Hostname: host, Service: svc, Source: source}, nil
}

// Check reports whether one rule is well formed on its own, naming it. New
// checks the list as a whole.
func Check(r Rule) error {
	if err := r.compile(); err != nil {
		if r.Source == "" {
			return err
		}
		return fmt.Errorf("%s: %w", r.Source, err)
	}
	return nil
}
