package oauth

import (
	"slices"
	"testing"
)

// TestClusterGroups: a group named like a cluster's reserved ones never
// reaches a cluster credential, whatever the prefix the API server adds.
func TestClusterGroups(t *testing.T) {
	for _, tc := range []struct {
		name       string
		groups     []string
		wantGroups []string
	}{
		{"none", nil, []string{}},
		{"plain", []string{"sre", "dev"}, []string{"sre", "dev"}},
		{"reserved dropped", []string{"system:masters", "sre", "system:nodes"}, []string{"sre"}},
		{"only the exact prefix", []string{"System:masters", "xsystem:masters"}, []string{"System:masters", "xsystem:masters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clusterGroups(tc.groups); !slices.Equal(got, tc.wantGroups) {
				t.Fatalf("clusterGroups(%q) = %q, want %q", tc.groups, got, tc.wantGroups)
			}
		})
	}
}
