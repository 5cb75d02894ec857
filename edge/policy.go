package edge

import (
	"github.com/airlockhq/airlock/internal/wire"
	"strings"
)

// policy is an app's Policy compiled for the per-stream check.
type policy struct {
	app     string
	allow   ruleSet
	deny    ruleSet
	summary string // the kinds of allow rule, e.g. "emails, email domains"
}

type ruleSet struct {
	emails, domains, groups map[string]struct{}
}

func compileRule(r Rule) ruleSet {
	set := func(xs []string) map[string]struct{} {
		if len(xs) == 0 {
			return nil
		}
		m := make(map[string]struct{}, len(xs))
		for _, x := range xs {
			m[strings.ToLower(strings.TrimSpace(x))] = struct{}{}
		}
		return m
	}
	return ruleSet{emails: set(r.Emails), domains: set(r.EmailDomains), groups: set(r.Groups)}
}

func compilePolicy(app string, p Policy) *policy {
	c := &policy{app: app, allow: compileRule(p.Allow), deny: compileRule(p.Deny)}
	var kinds []string
	if len(c.allow.emails) > 0 {
		kinds = append(kinds, "emails")
	}
	if len(c.allow.domains) > 0 {
		kinds = append(kinds, "email domains")
	}
	if len(c.allow.groups) > 0 {
		kinds = append(kinds, "groups")
	}
	c.summary = strings.Join(kinds, ", ")
	return c
}

// match returns what in r matches the identity ("" for nothing).
func (r *ruleSet) match(email, domain string, groups []string) string {
	if email != "" {
		if _, ok := r.emails[email]; ok {
			return "email " + email
		}
		if _, ok := r.domains[domain]; ok {
			return "email domain " + domain
		}
	}
	for _, g := range groups {
		if _, ok := r.groups[g]; ok {
			return "group " + g
		}
		if lg := strings.ToLower(g); lg != g {
			if _, ok := r.groups[lg]; ok {
				return "group " + g
			}
		}
	}
	return ""
}

// check returns nil when the identity may open the app, or a *wire.Error
// with CodeForbidden that names the user, the app and the reason.
func (p *policy) check(email string, groups []string) error {
	email = strings.ToLower(email)
	domain := ""
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		domain = email[at+1:]
	}
	who := email
	if who == "" {
		who = "a token without an email"
	}
	if m := p.deny.match(email, domain, groups); m != "" {
		return wire.Errorf(wire.CodeForbidden, "%s is denied app %s by a deny rule (%s)", who, p.app, m)
	}
	if p.summary == "" {
		return wire.Errorf(wire.CodeForbidden, "app %s allows nobody yet: its policy has no allow rules (set apps[].policy.allow in the edge config)", p.app)
	}
	if p.allow.match(email, domain, groups) != "" {
		return nil
	}
	return wire.Errorf(wire.CodeForbidden, "%s is not allowed to reach app %s (policy: %s)", who, p.app, p.summary)
}
