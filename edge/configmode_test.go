package edge

import (
	"os"
	"testing"

	"github.com/airlockhq/airlock/edge/oauth"
)

// TestConfigWriteDropsGroupAndOtherAccess: the edge config carries bcrypt
// hashes (and maybe an upstream client_secret); a command that rewrites a
// config someone made readable leaves it readable by its owner only.
func TestConfigWriteDropsGroupAndOtherAccess(t *testing.T) {
	tests := []struct {
		name       string
		mode, want os.FileMode
	}{
		{"world readable", 0o644, 0o600},
		{"group readable", 0o640, 0o600},
		{"private", 0o600, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := initState(t)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			hash, err := oauth.HashPassword("correct horse")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := SetUser(path, oauth.User{Email: "alice@example.com", PasswordHash: hash}); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != tt.want {
				t.Errorf("config mode %04o after `user add`, want %04o", got, tt.want)
			}
		})
	}
}
