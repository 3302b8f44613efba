package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A dump of a store sealed under key A imported into a store of key B
// and into a plain store (docs/encryption.md): the import keeps A's seals
// and the marker names A; without A every value is ErrKey naming it
// (never garbage), a Rekey without A fails with ErrKey and loses
// nothing, and with A first given (after B) Rekey moves all under B,
// which then opens every value alone. A truncated or flipped sealed dump
// is ErrDump, and nothing of it is imported.
func TestSealedDumpAcrossKeys(t *testing.T) {
	ctx := context.Background()
	keys := func(ids ...ckpt.Key) ckpt.Options {
		return ckpt.Options{Encryption: &ckpt.Encryption{Keys: ids}}
	}
	a, b := ckpt.Key{ID: 1}, ckpt.Key{ID: 2}
	for i := range a.Secret {
		a.Secret[i], b.Secret[i] = byte(i), byte(100+i)
	}
	dump := h148Dump(t, keys(a), "x")
	dir := t.TempDir()
	for _, into := range []struct {
		name string
		opts ckpt.Options
	}{{"key B", keys(b)}, {"plain", ckpt.Options{}}} {
		p := filepath.Join(dir, into.name+".db")
		s, err := ckpt.Open(p, into.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, bytes.NewReader(dump), ckpt.ImportOptions{}); err != nil {
			t.Fatalf("%s: import: %v", into.name, err)
		}
		ids, err := s.SealedKeys(ctx)
		if err != nil || !slices.Contains(ids, 1) {
			t.Errorf("%s: SealedKeys %v %v, want key 1 named", into.name, ids, err)
		}
		// (A keyed handle's GetTuple opens the values, a keyless one's
		// Decode: either says which key is missing.)
		var v string
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "x"})
		if err == nil {
			err = tp.Decode("v", &v)
		}
		var ke *ckpt.KeyError
		if !errors.Is(err, ckpt.ErrKey) || !errors.As(err, &ke) || ke.ID != 1 {
			t.Errorf("%s: value without key 1: %q %v, want a KeyError for key 1", into.name, v, err)
		}
		_, err = s.Rekey(ctx)
		if into.opts.Encryption != nil && !errors.Is(err, ckpt.ErrKey) {
			t.Errorf("%s: Rekey without key 1: %v, want ErrKey", into.name, err)
		}
		if into.opts.Encryption == nil && !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("%s: Rekey without keys: %v, want ErrInvalidConfig", into.name, err)
		}
		if _, err := s.Save(ctx, "y", map[string]any{"v": "plain?"}, nil); into.opts.Encryption == nil && !errors.Is(err, ckpt.ErrKey) {
			t.Errorf("%s: a keyless write into the store the import made encrypted: %v, want ErrKey", into.name, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Key B first, A to open what it sealed: Rekey moves all under B.
		if got, err := h148Holds(ctx, p, keys(b, a)); err != nil || got["x"] != "value of x" {
			t.Fatalf("%s: with keys B, A: %v %v", into.name, got, err)
		}
		s, err = ckpt.Open(p, keys(b, a))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rekey(ctx); err != nil {
			t.Fatalf("%s: Rekey with B, A: %v", into.name, err)
		}
		if ids, err := s.SealedKeys(ctx); err != nil || !slices.Equal(ids, []uint32{2}) {
			t.Errorf("%s: SealedKeys after Rekey: %v %v, want [2]", into.name, ids, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got, err := h148Holds(ctx, p, keys(b)); err != nil || got["x"] != "value of x" {
			t.Fatalf("%s: with key B alone after Rekey: %v %v", into.name, got, err)
		}
	}
	for _, bad := range [][]byte{dump[:len(dump)/2], dump[:len(dump)-20], append(bytes.Clone(dump[:len(dump)/2]), 'Z')} {
		p := filepath.Join(dir, "bad.db")
		s, err := ckpt.Open(p, keys(b))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, bytes.NewReader(bad), ckpt.ImportOptions{}); !errors.Is(err, ckpt.ErrDump) {
			t.Errorf("import of a damaged sealed dump: %v, want ErrDump", err)
		}
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 0 {
			t.Errorf("a failed import left %d checkpoints", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
