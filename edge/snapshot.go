package edge

import (
	"cmp"
	"crypto/sha256"
	"strings"
	"time"
)

// snapshot is the compiled, immutable routing and policy state. The server
// swaps it atomically on reload; a stream uses the one it loaded.
type snapshot struct {
	apps    map[string]*route       // lower-case hostname → route
	tunnels map[string]*tunnelEntry // tunnel id → tunnel
	denied  *deniedTokens           // revoked service tokens
}

type route struct {
	app    string
	tunnel *tunnelEntry
	policy *policy
}

type tunnelEntry struct {
	name, id   string
	secretHash [sha256.Size]byte
	maxConns   int // connector connections it may hold here
	hostnames  []string
}

// compile builds the snapshot of a validated config.
func compile(cfg *Config) *snapshot {
	s := &snapshot{apps: map[string]*route{}, tunnels: map[string]*tunnelEntry{}, denied: compileDenied(cfg, time.Now())}
	byHost := map[string]*tunnelEntry{}
	for _, t := range cfg.Tunnels {
		h, _ := parseSecretHash(t.SecretHash) // validated
		te := &tunnelEntry{name: t.Name, id: t.ID, secretHash: h, maxConns: cmp.Or(t.MaxConnections, DefaultTunnelConnections)}
		for _, host := range t.Hostnames {
			host = strings.ToLower(host)
			te.hostnames = append(te.hostnames, host)
			byHost[host] = te
		}
		s.tunnels[t.ID] = te
	}
	for _, a := range cfg.Apps {
		h := strings.ToLower(a.Hostname)
		s.apps[h] = &route{app: h, tunnel: byHost[h], policy: compilePolicy(h, a.Policy)}
	}
	return s
}

// lookup finds the route of an app hostname, ignoring case.
func (s *snapshot) lookup(app string) *route {
	if r, ok := s.apps[app]; ok {
		return r
	}
	return s.apps[strings.ToLower(app)]
}
