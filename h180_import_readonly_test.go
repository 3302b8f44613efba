package ckpt

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestH180ImportIntoReadOnlyStore: Import on a store opened read-only
// is a write refused, as every other: ErrReadOnly and nothing else. It
// went on, its first write refused, and its undo, a write too, was
// refused in turn: the error said "undo (the next read-write Open
// finishes it)" of an import that wrote nothing, and the store hid the
// dump's threads from its reads for the rest of its life (an undo left
// to the next Open), whether the input was a dump or not.
func TestH180ImportIntoReadOnlyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(dir+"/src.ckpt", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Save(ctx, "t", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	path := dir + "/ro.ckpt"
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"n": 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, in := range []struct{ what, dump string }{{"a dump", dump.String()}, {"no dump", "not a dump\n"}} {
		_, err := s.Import(ctx, strings.NewReader(in.dump), ImportOptions{})
		if !errors.Is(err, ErrReadOnly) || strings.Contains(err.Error(), "undo") {
			t.Errorf("Import of %s into a read-only store = %v, want ErrReadOnly alone", in.what, err)
		}
	}
	// The store's own thread still reads.
	if _, err := s.Latest(ctx, "t"); err != nil {
		t.Errorf("Latest after the refused imports: %v", err)
	}
}
