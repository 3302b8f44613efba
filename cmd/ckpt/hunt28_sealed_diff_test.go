package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestDiffWithoutTheKeyIsNoAnswer: diff of two checkpoints of an
// encrypted store, run without --key-file, said "no channel changed" for
// channels that did: each sealed value reads as the same stand-in bytes
// without its key, and diff compared bytes. It fails naming the key.
func TestDiffWithoutTheKeyIsNoAnswer(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sealed.db")
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{{ID: 7, Secret: [32]byte{9}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := s.Save(ctx, "t", map[string]any{"secret": "first"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", map[string]any{"secret": "second"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"diff", db, "t", a, b}, {"diff", db, "t", a, b, "--json"}} {
		r := runIn(t, dir, "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "key 7") || strings.Contains(r.stdout, "unchanged") {
			t.Errorf("%v without the key: want a failure naming key 7, nothing called unchanged:\n%s", args, r)
		}
	}
}
