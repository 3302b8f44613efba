package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func cliKey(id uint32, seed byte) ckpt.Key {
	k := ckpt.Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = seed + byte(i)
	}
	return k
}

// TestKeyFileAndRekey: commands read an encrypted store with --key-file
// (hex or base64), say which key is missing without one, and rekey moves
// the store to the new key so the old one is no longer needed.
func TestKeyFileAndRekey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	oldKey, newKey := cliKey(1, 3), cliKey(2, 9)
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Save(context.Background(), "t", map[string]any{"secret": "CLI-SENTINEL", "i": i}, ckpt.Metadata{"step": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldFile := write("old.key", "# the first key\n1 "+hex.EncodeToString(oldKey.Secret[:])+"\n")
	newFile := write("new.key", "2 "+base64.StdEncoding.EncodeToString(newKey.Secret[:])+"\n")
	bad := write("bad.key", "2 abcd\n")

	failsWith(t, runIn(t, dir, "", "show", db, "t"), exitError, "key 1 is not among the keys given")
	// Without keys the ids and metadata still list.
	if r := ok(t, dir, "threads", db); !strings.Contains(r.stdout, "t") {
		t.Fatalf("threads without keys:\n%s", r)
	}
	if r := ok(t, dir, "log", db, "t"); strings.Count(r.stdout, "\n") < 3 {
		t.Fatalf("log without keys:\n%s", r)
	}
	if r := ok(t, dir, "show", db, "t", "--key-file", oldFile); !strings.Contains(r.stdout, "CLI-SENTINEL") {
		t.Fatalf("show with the key does not print the value:\n%s", r)
	}
	failsWith(t, runIn(t, dir, "", "show", db, "t", "--key-file", bad), exitUsage, "not 32 bytes") // a malformed file: usage
	failsWith(t, runIn(t, dir, "", "rekey", db), exitUsage, "--key-file")

	if r := ok(t, dir, "rekey", db, "--key-file", newFile, "--key-file", oldFile); !strings.Contains(r.stdout, "re-sealed") {
		t.Fatalf("rekey:\n%s", r)
	}
	if r := ok(t, dir, "show", db, "t", "--key-file", newFile); !strings.Contains(r.stdout, "CLI-SENTINEL") {
		t.Fatalf("show with the new key after rekey:\n%s", r)
	}
	failsWith(t, runIn(t, dir, "", "show", db, "t", "--key-file", oldFile), exitError, "key 2 is not among the keys given")
}
