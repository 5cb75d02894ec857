package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/wire"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the SOCKS5 port of default listen addresses.
const DefaultPort = 1080

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)
)

// Validate checks the configuration, fills in defaults (each cluster's edge
// when there is one, listen addresses, absolute paths, parsed CAs) and
// returns an *Error listing every problem. It may be called again.
func (c *Config) Validate() error {
	p := &problems{file: c.Path}
	base := ""
	if c.Path != "" {
		base = filepath.Dir(c.Path)
	}
	if c.notJoined && len(c.Edges) == 0 && len(c.Clusters) == 0 {
		c.validateSignIn(p)
		return p.err()
	}
	if len(c.Clusters) == 0 && !c.HasCatalogue() {
		p.add(0, "clusters", "no clusters are configured: add at least one, or join an edge with `airlock join`")
	}
	if len(c.Edges) == 0 {
		p.add(0, "edges", "no edges are configured: add at least one")
	}
	edgeNames := map[string]bool{}
	for i := range c.Edges {
		e := &c.Edges[i]
		path := fmt.Sprintf("edges[%d]", i)
		if checkName(p, e.Name, e.line("name"), path+".name") && edgeNames[e.Name] {
			p.add(e.line("name"), path+".name", "edge %q is defined twice", e.Name)
		}
		edgeNames[e.Name] = true
		e.validate(p, path, base)
	}
	clusterNames := map[string]bool{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		path := fmt.Sprintf("clusters[%d]", i)
		if checkName(p, cl.Name, cl.line("name"), path+".name") && clusterNames[cl.Name] {
			p.add(cl.line("name"), path+".name", "cluster %q is defined twice", cl.Name)
		}
		clusterNames[cl.Name] = true
		cl.validate(p, path, base)
		// A cluster written by hand without edge: belongs to the one edge
		// whose clusters are not a catalogue's.
		own := c.ownEdges()
		switch {
		case cl.Edge == "" && len(own) == 1:
			cl.Edge = own[0]
		case cl.Edge == "" && len(own) != 1:
			p.add(cl.Line, path+".edge", "is required when there are %d edges", len(c.Edges))
		case cl.Edge != "" && !edgeNames[cl.Edge]:
			p.add(cl.line("edge"), path+".edge", "no edge is named %q", cl.Edge)
		}
	}
	c.checkKubeconfigOwners(p)
	c.validateSignIn(p)
	c.assignListen(p)
	return p.err()
}

// ownEdges are the names of the edges that are not catalogue edges.
func (c *Config) ownEdges() []string {
	var out []string
	for _, e := range c.Edges {
		if !e.Catalogue {
			out = append(out, e.Name)
		}
	}
	return out
}

// checkKubeconfigOwners refuses a kubeconfig entry name or server URL mapped
// by two clusters: one entry can carry only one proxy-url.
func (c *Config) checkKubeconfigOwners(p *problems) {
	names, servers := map[string]int{}, map[string]int{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		for j, n := range cl.Kubeconfig.Clusters {
			if prev, dup := names[n]; dup && prev != i {
				p.add(cl.line("kubeconfig.clusters"), fmt.Sprintf("clusters[%d].kubeconfig.clusters[%d]", i, j), "kubeconfig cluster %q is also mapped by clusters[%d]", n, prev)
			} else if n != "" {
				names[n] = i
			}
		}
		for j, s := range cl.Kubeconfig.Servers {
			if prev, dup := servers[s]; dup && prev != i {
				p.add(cl.line("kubeconfig.servers"), fmt.Sprintf("clusters[%d].kubeconfig.servers[%d]", i, j), "server %q is also mapped by clusters[%d]", s, prev)
			} else if s != "" {
				servers[s] = i
			}
		}
	}
}

func checkName(p *problems, name string, line int, field string) bool {
	switch {
	case name == "":
		p.add(line, field, "is required")
	case !nameRE.MatchString(name):
		p.add(line, field, "%q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	default:
		return true
	}
	return false
}

func (e *Edge) line(field string) int {
	if l := e.lines[field]; l > 0 {
		return l
	}
	return e.Line
}

func (c *Cluster) line(field string) int {
	if l := c.lines[field]; l > 0 {
		return l
	}
	return c.Line
}

func (e *Edge) validate(p *problems, path, base string) {
	e.validateAddresses(p, path)
	switch e.Transport {
	case "", "auto", "quic", "tcp":
	default:
		p.add(e.line("transport"), path+".transport", "%q is not auto, quic or tcp", e.Transport)
	}
	if e.QUICRetry != 0 && e.QUICRetry < time.Second {
		p.add(e.line("quic_retry"), path+".quic_retry", "%s is too short: at least 1s", e.QUICRetry)
	}
	if e.ServerName != "" {
		if err := wire.CheckHostname(e.ServerName); err != nil {
			p.add(e.line("server_name"), path+".server_name", "%v", err)
		}
	}
	e.validateAuthURL(p, path)
	if e.KubeconfigPrefix != "" && !prefixRE.MatchString(e.KubeconfigPrefix) {
		p.add(e.line("kubeconfig_prefix"), path+".kubeconfig_prefix", "%q must be up to 40 letters, digits, '.', '_' or '-', starting with a letter or digit", e.KubeconfigPrefix)
	}
	if e.CA == "" {
		e.RootCAs = nil
		return
	}
	pemData := []byte(e.CA)
	where := "inline PEM"
	if !strings.Contains(e.CA, "-----BEGIN") {
		e.CA = absPath(base, e.CA)
		where = e.CA
		data, err := os.ReadFile(e.CA)
		if err != nil {
			p.add(e.line("ca"), path+".ca", "cannot read the CA file: %v", err)
			return
		}
		pemData = data
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		p.add(e.line("ca"), path+".ca", "%s holds no PEM certificate", where)
		return
	}
	e.RootCAs = pool
}

// MaxEdgeAddresses bounds an edge's addresses list.
const MaxEdgeAddresses = 16

// validateAddresses checks address or addresses (one of them) and makes
// Address the first of Addresses. A configuration built in code may set
// either, or both when Address is Addresses[0].
func (e *Edge) validateAddresses(p *problems, path string) {
	switch {
	case len(e.Addresses) == 0 && e.Address == "":
		field := ".address"
		if e.fromList {
			field = ".addresses"
		}
		p.add(e.line(field[1:]), path+field, "is required (host:port of the edge, UDP)")
		return
	case len(e.Addresses) == 0:
		e.Addresses = []string{e.Address}
	case e.Address != "" && e.Address != e.Addresses[0]:
		p.add(e.line("address"), path+".address", "%q is not the first of addresses (%q)", e.Address, e.Addresses[0])
		return
	}
	field := path + ".address"
	if e.fromList || len(e.Addresses) > 1 {
		field = path + ".addresses"
	}
	line := e.line("address")
	if e.fromList {
		line = e.line("addresses")
	}
	if len(e.Addresses) > MaxEdgeAddresses {
		p.add(line, field, "lists %d addresses, at most %d", len(e.Addresses), MaxEdgeAddresses)
		return
	}
	seen := map[string]bool{}
	for i, a := range e.Addresses {
		f := field
		if len(e.Addresses) > 1 || e.fromList {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		if err := wire.CheckTarget(a); err != nil {
			p.add(line, f, "must be host:port: %v", err)
			continue
		}
		if seen[strings.ToLower(a)] {
			p.add(line, f, "%q is listed twice", a)
		}
		seen[strings.ToLower(a)] = true
	}
	e.Address = e.Addresses[0]
}

func (c *Cluster) validate(p *problems, path, base string) {
	if c.App == "" {
		p.add(c.Line, path+".app", "is required (the app's hostname at the edge)")
	} else if err := wire.CheckHostname(c.App); err != nil {
		p.add(c.line("app"), path+".app", "%v", err)
	}
	switch {
	case c.Token != "" && c.TokenFile != "":
		p.add(c.line("token_file"), path+".token_file", "set token or token_file, not both")
	case c.Token == "" && c.TokenFile == "":
		// sign-in at the edge
	case c.Token != "":
		if strings.ContainsAny(c.Token, " \t\r\n") {
			p.add(c.line("token"), path+".token", "contains whitespace")
		}
	default:
		c.TokenFile = absPath(base, c.TokenFile)
		if st, err := os.Stat(c.TokenFile); err != nil {
			p.add(c.line("token_file"), path+".token_file", "cannot read the token file: %v", err)
		} else if !st.Mode().IsRegular() {
			p.add(c.line("token_file"), path+".token_file", "%s is not a regular file", c.TokenFile)
		}
	}
	if c.Listen != "" {
		if err := CheckListen(c.Listen); err != nil {
			p.add(c.line("listen"), path+".listen", "%v", err)
		}
	}
	for i, name := range c.Kubeconfig.Clusters {
		if name == "" {
			p.add(c.line("kubeconfig.clusters"), fmt.Sprintf("%s.kubeconfig.clusters[%d]", path, i), "is empty")
		}
	}
	for i, s := range c.Kubeconfig.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(c.line("kubeconfig.servers"), fmt.Sprintf("%s.kubeconfig.servers[%d]", path, i), "%q is not an http(s) URL", s)
		}
	}
}

// CheckListen reports whether addr is an IP:port on loopback (port 0
// means any free port). Host names, even "localhost", are refused: the
// daemon must never listen off loopback.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not ip:port: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("%q must be a loopback IP address such as 127.0.0.2, not a name", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: the SOCKS proxy must listen on 127.0.0.0/8 or ::1 only", host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number in 0-65535", port)
	} else if n > 0 && n < 1024 {
		return errors.New("port " + port + " is privileged; use 1024 or above")
	}
	return nil
}

// assignListen gives clusters without a listen address 127.0.0.2:1080,
// 127.0.0.3:1080, … skipping addresses other clusters name, with the
// fallback 127.0.0.1:1080, :1081, … in the same order.
func (c *Config) assignListen(p *problems) {
	used := map[string]int{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.Listen == "" || cl.ListenFallback != "" {
			continue
		}
		key := normAddr(cl.Listen)
		if strings.HasSuffix(key, ":0") {
			continue
		}
		if prev, dup := used[key]; dup {
			p.add(cl.line("listen"), fmt.Sprintf("clusters[%d].listen", i), "%s is also the listen address of clusters[%d]", cl.Listen, prev)
		}
		used[key] = i
	}
	n, port := 2, DefaultPort
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.Listen != "" {
			continue
		}
		for ; n < 255; n++ {
			if _, taken := used[fmt.Sprintf("127.0.0.%d:%d", n, DefaultPort)]; !taken {
				break
			}
		}
		for ; port < 65535; port++ {
			if _, taken := used[fmt.Sprintf("127.0.0.1:%d", port)]; !taken {
				break
			}
		}
		if n >= 255 {
			p.add(cl.Line, fmt.Sprintf("clusters[%d].listen", i), "no default loopback address left: set listen")
			continue
		}
		cl.Listen = fmt.Sprintf("127.0.0.%d:%d", n, DefaultPort)
		cl.ListenFallback = fmt.Sprintf("127.0.0.1:%d", port)
		n++
		port++
	}
}

func normAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, port)
}

func absPath(base, p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	if filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}
