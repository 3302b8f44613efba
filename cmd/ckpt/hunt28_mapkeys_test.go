package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestShowAndDiffPrintMapsWithNonStringKeys: a channel holding a map with
// integer keys (the store keeps any key type in values) made show, show
// --json and diff fail with "cannot decode value into the target type"
// (exit 1) for a checkpoint that is fine; they print it with its keys as
// text, as JSON must.
func TestShowAndDiffPrintMapsWithNonStringKeys(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "keys.db")
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := s.Save(ctx, "t", map[string]any{"ikeys": map[int]string{7: "seven-a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", map[string]any{"ikeys": map[int]string{7: "seven-b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"show", db, "t", b},
		{"show", db, "t", b, "--json"},
		{"show", db, "t", b, "--channel", "ikeys"},
		{"diff", db, "t", a, b},
	} {
		r := ok(t, dir, args...)
		if !strings.Contains(r.stdout, "seven-b") {
			t.Errorf("%v: the value is not printed:\n%s", args, r)
		}
	}
}
