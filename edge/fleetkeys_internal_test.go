package edge

import (
	"slices"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

func TestRetiredKeep(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		access, service, leeway time.Duration
		want                    time.Duration
	}{
		{"service tokens live longest", 15 * time.Minute, 90 * 24 * time.Hour, 0, 90*24*time.Hour + token.DefaultLeeway + keySlack},
		{"access tokens live longest", time.Hour, 30 * time.Minute, 10 * time.Second, time.Hour + 10*time.Second + keySlack},
		{"no leeway", time.Hour, 0, -1, time.Hour + keySlack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Tokens: TokenConfig{AccessTTL: Duration(tc.access), MaxServiceTTL: Duration(tc.service), Leeway: Duration(tc.leeway)}}
			if got := retiredKeep(cfg); got != tc.want {
				t.Fatalf("keep %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUnionKeys(t *testing.T) {
	k := func(id string, b byte) wire.PublicKey {
		return wire.PublicKey{ID: id, Key: slices.Repeat([]byte{b}, 32)}
	}
	for _, tc := range []struct {
		name       string
		own, fleet []wire.PublicKey
		want       []wire.PublicKey
	}{
		{"no fleet", []wire.PublicKey{k("a", 1)}, nil, []wire.PublicKey{k("a", 1)}},
		{"own first, then the others", []wire.PublicKey{k("a", 1), k("b", 2)}, []wire.PublicKey{k("c", 3), k("a", 1), k("b", 2)},
			[]wire.PublicKey{k("a", 1), k("b", 2), k("c", 3)}},
		{"an own id with another key in the fleet: own wins", []wire.PublicKey{k("a", 1)}, []wire.PublicKey{k("a", 9), k("c", 3)},
			[]wire.PublicKey{k("a", 1), k("c", 3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unionKeys(tc.own, tc.fleet); !sameKeys(got, tc.want) {
				t.Fatalf("union %v, want %v", got, tc.want)
			}
		})
	}
}
