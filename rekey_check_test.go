package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// CheckRekey, on a read-only handle, tells what Rekey with the same keys
// would meet: a key not given (Missing), a wrong key for a key id the
// records are sealed under, or nil; the file stays byte-identical. The
// records are under keys 1 and 3 (a value under each, a pending write),
// so each id is looked for.
func TestCheckRekey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	k1, k3 := testKey(1, 3), testKey(3, 30)
	s := openKeys(t, path, k1)
	if _, err := s.Save(ctx, "a", map[string]any{"v": "one"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openKeys(t, path, k3, k1)
	if _, err := s.Save(ctx, "b", map[string]any{"v": "three"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		keys    []Key
		id      uint32 // 0: nil wanted
		missing bool
	}{
		{"all keys", []Key{testKey(2, 9), k1, k3}, 0, false},
		{"newest is one of them", []Key{k3, k1}, 0, false},
		{"key 1 wrong", []Key{testKey(2, 9), testKey(1, 99), k3}, 1, false},
		{"key 3 wrong", []Key{testKey(2, 9), k1, testKey(3, 99)}, 3, false},
		{"key 3 missing", []Key{testKey(2, 9), k1}, 3, true},
		{"key 3 newest, key 1 missing", []Key{k3}, 1, true},
	} {
		ro, err := Open(path, Options{ReadOnly: true, Encryption: &Encryption{Keys: c.keys}})
		if err != nil {
			t.Fatal(err)
		}
		checked := ro.CheckRekey(ctx)
		if cerr := ro.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		ke, isKey := errors.AsType[*KeyError](checked)
		switch {
		case c.id == 0 && checked != nil:
			t.Errorf("%s: %v, want nil", c.name, checked)
		case c.id != 0 && (!isKey || !errors.Is(checked, ErrKey) || ke.ID != c.id || ke.Missing != c.missing):
			t.Errorf("%s: %v, want a KeyError for key %d (missing %v)", c.name, checked, c.id, c.missing)
		}
		// What CheckRekey said is what Rekey meets (on a copy).
		cp := path + ".copy"
		if err := os.WriteFile(cp, before, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(cp + "-wal")
		w, err := Open(cp, Options{Encryption: &Encryption{Keys: c.keys}})
		if err != nil {
			t.Fatal(err)
		}
		_, rerr := w.Rekey(ctx)
		if cerr := w.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if (rerr == nil) != (checked == nil) || checked != nil && !errors.Is(rerr, ErrKey) {
			t.Errorf("%s: CheckRekey %v, Rekey %v", c.name, checked, rerr)
		}
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the file changed (%v)", err)
	}
	s = openKeys(t, path)
	if err := s.CheckRekey(ctx); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("CheckRekey without keys: %v, want ErrInvalidConfig", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
