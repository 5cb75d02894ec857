package connector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/wire"
	"gopkg.in/yaml.v3"
)

// DefaultAdminAddr is where airlock-connector serves /ready and /metrics
// unless told otherwise.
const DefaultAdminAddr = "127.0.0.1:7846"

// Options are the connector's settings as an operator writes them: command
// line flags, or the same names in a YAML file (--config). Resolve turns
// them into a Config. A file:
//
//	credentials-file: /etc/airlock/tunnel.json
//	edges: [edge-1.example.com:7844, edge-2.example.com:7844] # default: the credentials' edges
//	ha-connections: 2
//	grace: 30s
//	admin: 127.0.0.1:7846 # or off
//	ingress:              # first match wins; a deny-all always follows
//	  - hostname: k8s.prod.example.com
//	    service: tcp://10.0.0.1:6443
//	  - hostname: "*.apps.example.com"
//	    service: tcp://apps.internal:8080
//	  - service: deny
type Options struct {
	CredentialsFile   string         `yaml:"credentials-file"`
	Edges             []string       `yaml:"edges"`
	HAConnections     int            `yaml:"ha-connections"`
	Grace             time.Duration  `yaml:"grace"` // 0: DefaultGrace; negative: none
	OriginDialTimeout time.Duration  `yaml:"origin-dial-timeout"`
	Admin             string         `yaml:"admin"` // "off" disables the admin listener
	URL               string         `yaml:"url"`   // a catch-all rule: every app of the tunnel to this origin
	Ingress           []ingress.Rule `yaml:"ingress"`
}

// maxConfigFile bounds a config file; real ones are a few hundred bytes.
const maxConfigFile = 1 << 20

// ParseOptions decodes a YAML config file. Unknown keys are errors (a typo
// must not silently drop a rule); name labels errors and rules.
func ParseOptions(b []byte, name string) (*Options, error) {
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("config %s: %d bytes, limit %d", name, len(b), maxConfigFile)
	}
	var o Options
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	for i := range o.Ingress {
		o.Ingress[i].Source = fmt.Sprintf("%s ingress[%d]", name, i)
		if err := ingress.Check(o.Ingress[i]); err != nil {
			return nil, fmt.Errorf("config %w", err)
		}
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return &o, nil
}

// LoadOptions reads and decodes a YAML config file.
func LoadOptions(path string) (*Options, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseOptions(b, path)
}

func (o *Options) check() error {
	for i, e := range o.Edges {
		if err := wire.CheckTarget(e); err != nil {
			return fmt.Errorf("edges[%d]: %w", i, err)
		}
	}
	switch {
	case o.HAConnections < 0 || o.HAConnections > MaxHAConnections:
		return fmt.Errorf("ha-connections %d: want 1 to %d", o.HAConnections, MaxHAConnections)
	case o.OriginDialTimeout < 0:
		return fmt.Errorf("origin-dial-timeout %v is negative", o.OriginDialTimeout)
	}
	if o.URL != "" {
		if _, err := ingress.ParseService(o.URL); err != nil {
			return fmt.Errorf("url: %w", err)
		}
	}
	return nil
}

// Override returns o with every setting that flags sets replaced, where set
// names the flags given on the command line. Ingress rules are not replaced
// but joined: the flags' rules first, then o's.
func (o Options) Override(flags Options, set func(name string) bool) Options {
	if set("credentials") {
		o.CredentialsFile = flags.CredentialsFile
	}
	if set("edge") {
		o.Edges = flags.Edges
	}
	if set("ha-connections") {
		o.HAConnections = flags.HAConnections
	}
	if set("grace") {
		o.Grace = flags.Grace
		if o.Grace == 0 {
			o.Grace = -1 // --grace 0: no grace at all
		}
	}
	if set("origin-dial-timeout") {
		o.OriginDialTimeout = flags.OriginDialTimeout
	}
	if set("admin") {
		o.Admin = flags.Admin
	}
	if set("url") {
		o.URL = flags.URL
	}
	o.Ingress = append(append([]ingress.Rule(nil), flags.Ingress...), o.Ingress...)
	return o
}

// Resolve reads the credentials file and checks the rules (ingress rules in
// order, then the --url catch-all, then the deny-all) and returns the
// Config they describe. Logger and the other programmatic fields are left
// for the caller.
func (o Options) Resolve() (Config, error) {
	if err := o.check(); err != nil {
		return Config{}, err
	}
	if o.CredentialsFile == "" {
		return Config{}, errors.New("no credentials file: pass --credentials FILE (written by airlock-edge tunnel create)")
	}
	creds, err := credentials.ReadCredentials(o.CredentialsFile)
	if err != nil {
		return Config{}, err
	}
	rules := append([]ingress.Rule(nil), o.Ingress...)
	if o.URL != "" {
		rules = append(rules, ingress.Rule{Hostname: "*", Service: o.URL, Source: "--url"})
	}
	rs, err := ingress.New(rules)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Credentials:       creds,
		Edges:             o.Edges,
		HAConnections:     o.HAConnections,
		Rules:             rs,
		Grace:             o.Grace,
		OriginDialTimeout: o.OriginDialTimeout,
		AdminAddr:         o.Admin,
	}
	switch strings.ToLower(o.Admin) {
	case "":
		cfg.AdminAddr = DefaultAdminAddr
	case "off", "none":
		cfg.AdminAddr = ""
	}
	return cfg, nil
}
