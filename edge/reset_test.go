package edge

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStatelessResetKey(t *testing.T) {
	t.Run("made by Init, stable", func(t *testing.T) {
		cfg, err := LoadConfig(initState(t))
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(cfg.Path(ResetKeyFile))
		if err != nil {
			t.Fatalf("Init wrote no %s: %v", ResetKeyFile, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", ResetKeyFile, st.Mode().Perm())
		}
		a, err := statelessResetKey(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := statelessResetKey(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if *a != *b {
			t.Fatal("the key differs between two starts on one state")
		}
	})
	t.Run("created when missing", func(t *testing.T) {
		cfg, err := LoadConfig(initState(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(cfg.Path(ResetKeyFile)); err != nil {
			t.Fatal(err)
		}
		// Two edges starting at once on one state agree on the key.
		keys := make([]string, 4)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := statelessResetKey(cfg)
				if err != nil {
					t.Error(err)
					return
				}
				keys[i] = string(k[:])
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if k != keys[0] {
				t.Fatal("concurrent first starts made different keys")
			}
		}
		if st, err := os.Stat(cfg.Path(ResetKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s after the first start: %v, %v", ResetKeyFile, st, err)
		}
		ents, _ := os.ReadDir(filepath.Dir(cfg.Path(ResetKeyFile)))
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left behind", e.Name())
			}
		}
	})
	t.Run("bad file", func(t *testing.T) {
		for _, content := range []string{"", "not hex\n", "abcd\n"} {
			cfg, err := LoadConfig(initState(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.Path(ResetKeyFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = statelessResetKey(cfg)
			if err == nil || !strings.Contains(err.Error(), ResetKeyFile) {
				t.Errorf("content %q: err = %v, want one naming %s", content, err, ResetKeyFile)
			}
		}
	})
}
