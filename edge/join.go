package edge

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/wire"
)

// Joining an edge (`airlock join`): the config's fleet_name and each
// app's name and display_name, which the public metadata and the
// catalogue carry (joinhttp.go serves them).

// MaxDisplayNameLen bounds apps[].display_name.
const MaxDisplayNameLen = 200

// Fleet is the fleet's name: fleet_name, else tls.server_name lower-cased.
func (c *Config) Fleet() string {
	if c.FleetName != "" {
		return c.FleetName
	}
	return strings.ToLower(c.TLS.ServerName)
}

// ShortName is the app's name: apps[].name, else the hostname's first
// label lower-cased.
func (a *App) ShortName() string {
	if a.Name != "" {
		return a.Name
	}
	first, _, _ := strings.Cut(strings.ToLower(a.Hostname), ".")
	return first
}

// Display is the app's display name: apps[].display_name, else its name.
func (a *App) Display() string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.ShortName()
}

// kubeServer is the app's kubernetes.server ("" for none).
func (a *App) kubeServer() string {
	if a.Kubernetes == nil {
		return ""
	}
	return a.Kubernetes.Server
}

func (c *Config) validateJoin(v *validator) {
	if c.FleetName != "" {
		if err := checkName(c.FleetName); err != nil {
			v.add("fleet_name", err.Error())
		}
	} else if err := checkName(c.Fleet()); err != nil {
		v.add("fleet_name", fmt.Sprintf("the default, tls.server_name %q, will not do as a fleet name: set fleet_name (%v)", c.TLS.ServerName, err))
	}
	type owner struct {
		i          int
		explicit   bool
		kubeServer bool
	}
	names := map[string]owner{}
	for i, a := range c.Apps {
		f := fmt.Sprintf("apps[%d]", i)
		if a.Name != "" {
			if err := checkLabel(a.Name); err != nil {
				v.add(f+".name", err.Error())
				continue
			}
		}
		if a.DisplayName != "" {
			if err := checkDisplayName(a.DisplayName); err != nil {
				v.add(f+".display_name", err.Error())
			}
		}
		if wire.CheckHostname(a.Hostname) != nil {
			continue // reported with the hostname
		}
		name, me := a.ShortName(), owner{i: i, explicit: a.Name != "", kubeServer: a.kubeServer() != ""}
		// Two apps may share a name taken from their hostnames as long as
		// neither gets kubeconfig entries: a config from before names
		// existed keeps loading.
		if o, dup := names[name]; dup && (me.explicit || o.explicit || me.kubeServer && o.kubeServer) {
			v.add(f+".name", fmt.Sprintf("%q is already the name of apps[%d] (%s): names the kubeconfig entries of people who join, so each must differ; set apps[].name", name, o.i, c.Apps[o.i].Hostname))
			continue
		}
		if _, dup := names[name]; !dup {
			names[name] = me
		}
	}
}

// checkLabel accepts an app name: a DNS label, 1 to 63 of a-z 0-9 '-',
// not starting or ending with '-'.
func checkLabel(s string) error {
	ok := len(s) >= 1 && len(s) <= 63 && s[0] != '-' && s[len(s)-1] != '-'
	for _, c := range s {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%q is not a name of 1 to 63 of a-z, 0-9 and '-' (not first or last)", s)
	}
	return nil
}

// checkDisplayName accepts printable UTF-8 up to MaxDisplayNameLen bytes.
func checkDisplayName(s string) error {
	if len(s) > MaxDisplayNameLen {
		return fmt.Errorf("is %d bytes, limit %d", len(s), MaxDisplayNameLen)
	}
	if !utf8.ValidString(s) || strings.TrimSpace(s) == "" {
		return fmt.Errorf("%q is not printable text", s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q holds a control character", s)
		}
	}
	return nil
}

// Invite is the invitation to join this edge: its sign-in URL (authURL;
// empty: the config's, as serve computes it) and the fingerprint of
// tls.ca_file (none without one: the edge's certificate is then from a CA
// the system trusts).
func (c *Config) Invite(authURL string) (joinlink.Invite, error) {
	if authURL == "" {
		authURL = c.publicURL(nil)
	}
	e, err := joinlink.ParseEdgeURL(authURL)
	if err != nil {
		return joinlink.Invite{}, fmt.Errorf("the sign-in URL: %w", err)
	}
	inv := joinlink.Invite{Edge: e}
	ca, err := c.edgeCA()
	if err != nil || ca == nil {
		return inv, err
	}
	if inv.CA, err = joinlink.FingerprintPEM(ca); err != nil {
		return joinlink.Invite{}, fmt.Errorf("tls.ca_file: %w", err)
	}
	return inv, nil
}

// edgeCA is the PEM of tls.ca_file, at most joinlink.MaxCA bytes (nil
// without one).
func (c *Config) edgeCA() ([]byte, error) {
	if c.TLS.CAFile == "" {
		return nil, nil
	}
	f, err := os.Open(c.Path(c.TLS.CAFile))
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, joinlink.MaxCA+1))
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	if len(b) > joinlink.MaxCA {
		return nil, fmt.Errorf("tls.ca_file %s: over %d bytes", c.Path(c.TLS.CAFile), joinlink.MaxCA)
	}
	return b, nil
}
