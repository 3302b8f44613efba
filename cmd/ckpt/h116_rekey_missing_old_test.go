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

// `ckpt rekey FILE --key-file NEW` without the old key's file failed with
// "key 1 is not among the keys given; every value still opens with one of
// the keys; run rekey again to finish": running it again as it was fails
// the same way. It must say to give the old key's file after the new one.
func TestRekeyWithoutTheOldKeySaysToGiveIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	oldKey, newKey := cliKey(1, 3), cliKey(2, 9)
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"v": "x"}, ckpt.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newFile := filepath.Join(dir, "new.key")
	if err := os.WriteFile(newFile, []byte("2 "+hex.EncodeToString(newKey.Secret[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "rekey", db, "--key-file", newFile)
	failsWith(t, r, exitError, "give key 1's --key-file after the new key's and run rekey again")
	if strings.Contains(r.stderr, "; run rekey again to finish") {
		t.Fatalf("it says to run rekey again as it was:\n%s", r)
	}
}
