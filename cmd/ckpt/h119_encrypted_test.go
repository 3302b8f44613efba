package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// ckpt stats and ckpt threads of an encrypted store did not say it was
// one: a person saw the counts of a store whose values nobody can read
// without its key, and no word of the key. They name its key ids, with
// and without --key-file; a plain store's say nothing of encryption.
func TestStatsAndThreadsSayTheStoreIsEncrypted(t *testing.T) {
	dir := t.TempDir()
	enc, plain := filepath.Join(dir, "enc.db"), filepath.Join(dir, "plain.db")
	key := cliKey(7, 5)
	for db, e := range map[string]*ckpt.Encryption{enc: {Keys: []ckpt.Key{key}}, plain: nil} {
		s, err := ckpt.Open(db, ckpt.Options{Encryption: e})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(context.Background(), "t", map[string]any{"v": 1}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	keyFile := filepath.Join(dir, "k")
	if err := os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(key.Secret[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"stats", "threads"} {
		for _, extra := range [][]string{nil, {"--key-file", keyFile}} {
			r := ok(t, dir, append([]string{cmd, enc}, extra...)...)
			if !strings.Contains(r.stdout, "encrypted") || !strings.Contains(r.stdout, "key 7") {
				t.Errorf("%s of an encrypted store %v does not say it is encrypted under key 7:\n%s", cmd, extra, r.stdout)
			}
		}
		if r := ok(t, dir, cmd, plain); strings.Contains(r.stdout, "encrypt") {
			t.Errorf("%s of a plain store speaks of encryption:\n%s", cmd, r.stdout)
		}
	}
	if r := ok(t, dir, "stats", enc, "--json"); !strings.Contains(r.stdout, `"sealed_keys": [`) {
		t.Errorf("stats --json of an encrypted store has no sealed_keys:\n%s", r.stdout)
	}
}
