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

// A --key-file the command cannot use came out in Go's or the library's
// words, exit 1: "key file: open nokey: no such file or directory",
// "open enc.db: Options.Encryption lists key id 1 twice". A missing,
// unreadable or malformed key file (or two holding one id) is a usage
// fault: exit 2, one line naming the flag and the file and what is
// wrong. A well-formed key that is wrong for the store is exit 1, and the
// line names the --key-file that holds it.
func TestH191KeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	key := cliKey(1, 3)
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"v": "x"}, ckpt.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wrong := cliKey(1, 77)
	write("good.key", "1 "+hex.EncodeToString(key.Secret[:])+"\n")
	write("same-id.key", "1 "+hex.EncodeToString(wrong.Secret[:])+"\n")
	write("short.key", "1 abcd\n")
	write("two.key", "1 "+hex.EncodeToString(key.Secret[:])+"\n2 "+hex.EncodeToString(key.Secret[:])+"\n")
	if err := os.Mkdir(filepath.Join(dir, "kdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		keys []string
		code int
		want []string
	}{
		{[]string{"nokey"}, exitUsage, []string{"--key-file nokey: no such file"}},
		{[]string{"kdir"}, exitUsage, []string{"--key-file kdir: is a directory"}},
		{[]string{"short.key"}, exitUsage, []string{"--key-file short.key: ", "32 bytes"}},
		{[]string{"two.key"}, exitUsage, []string{"--key-file two.key: ", "more than one key line"}},
		{[]string{"good.key", "same-id.key"}, exitUsage, []string{"--key-file same-id.key: ", "key id 1", "good.key"}},
		{[]string{"same-id.key"}, exitError, []string{"--key-file same-id.key", "key 1", "does not open"}},
	} {
		args := []string{"show", "enc.db", "t"}
		for _, k := range c.keys {
			args = append(args, "--key-file", k)
		}
		r := runIn(t, dir, "", args...)
		failsWith(t, r, c.code, c.want[0])
		for _, w := range c.want[1:] {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("want %q:\n%s", w, r)
			}
		}
		for _, goWords := range []string{"open nokey", "read kdir", "Options.Encryption", "key file: "} {
			if strings.Contains(r.stderr, goWords) {
				t.Errorf("Go's or the library's words %q:\n%s", goWords, r)
			}
		}
	}
	// The right key still opens it.
	ok(t, dir, "show", "enc.db", "t", "--key-file", "good.key")
}
