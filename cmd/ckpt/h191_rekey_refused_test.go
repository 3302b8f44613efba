package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// 'ckpt rekey FILE --key-file NEW --key-file OLD' with OLD's key wrong
// for the store (or no --key-file for a key its records are sealed
// under) refused with nothing re-sealed, but it had opened FILE for
// writing first, which writes to it (bbolt's meta pages, the log's
// binding, the encryption marker): FILE's bytes changed. A refused
// rekey must leave FILE byte-identical, no log beside it.
func TestH191RekeyWithAWrongKeyLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	oldKey := cliKey(1, 3)
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Save(context.Background(), "t", map[string]any{"v": i}, ckpt.Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, k ckpt.Key) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.FormatUint(uint64(k.ID), 10)+" "+hex.EncodeToString(k.Secret[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("new.key", cliKey(2, 9))
	write("old.key", oldKey)
	write("wrong.key", cliKey(1, 99))
	want, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		keys []string
		want string
	}{
		{[]string{"new.key", "wrong.key"}, "the --key-file given for key 1 (wrong.key) does not open it"},
		{[]string{"new.key"}, "give key 1's --key-file after the new key's"},
	} {
		args := []string{"rekey", "enc.db"}
		for _, k := range c.keys {
			args = append(args, "--key-file", k)
		}
		r := runIn(t, dir, "", args...)
		failsWith(t, r, exitError, c.want)
		got, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ckpt %v: enc.db's bytes changed", r.args)
		}
		if _, err := os.Lstat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ckpt %v: a log beside enc.db: %v", r.args, err)
		}
	}
	// With the right keys it re-seals.
	ok(t, dir, "rekey", "enc.db", "--key-file", "new.key", "--key-file", "old.key")
	ok(t, dir, "show", "enc.db", "t", "--key-file", "new.key")
}
