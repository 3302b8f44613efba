package ckpt_test

// A file refused for holding only the start of bbolt's new-file pages
// must say what to do: a read-only Open of a new store's pages cut short
// (which a read-write Open makes the store in, h192_cut_init_test.go)
// named nothing, and neither did a file cut shorter than the first meta
// page's checksum (80 bytes), which a new store's creation cut short
// leaves as well as a store cut short. The advice must never call a real
// store's cut-short file one that never held a store.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h195OpenErr opens path as opts says and returns the error (closing a
// store that opened).
func h195OpenErr(path string, opts ckpt.Options) error {
	s, err := ckpt.Open(path, opts)
	if err == nil {
		_ = s.Close()
		return errors.New("opened")
	}
	return err
}

func TestH195CutShortAdvice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := os.Getpagesize()
	init := h192InitPages(t, ps)
	ro := ckpt.Options{ReadOnly: true}

	// A new store's pages through the first meta checksum: a read-only
	// Open says a read-write one makes the store there, and that works.
	for _, n := range []int{80, 200, ps, 2*ps + 7, 3 * ps} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, init[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		err := h195OpenErr(path, ro)
		if !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(err.Error(), "never held a store") ||
			!strings.Contains(err.Error(), "makes the store there") {
			t.Errorf("read-only Open of a new file's first %d bytes: %v, want ErrCorrupt saying a read-write Open makes the store", n, err)
		}
		if b, err := os.ReadFile(path); err != nil || len(b) != n {
			t.Errorf("%d bytes: the read-only Open left %d bytes (%v)", n, len(b), err)
		}
		if err := h195OpenErr(path, ckpt.Options{}); err.Error() != "opened" {
			t.Errorf("%d bytes: the advice's read-write Open: %v", n, err)
		}
	}

	// Shorter than the checksum: any bbolt file's start. Both Opens
	// refuse, say what it may be and what to do, and change nothing.
	for _, n := range []int{20, 24, 40, 79} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, init[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []ckpt.Options{ro, {}} {
			err := h195OpenErr(path, opts)
			msg := fmt.Sprint(err)
			if !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(msg, "remove it and open again") ||
				!strings.Contains(msg, "restore it from a backup") || strings.Contains(msg, "never held") {
				t.Errorf("%d bytes of a new file's start, read-only %v: %v, want ErrCorrupt with the advice", n, opts.ReadOnly, err)
			}
			if b, err := os.ReadFile(path); err != nil || len(b) != n {
				t.Errorf("%d bytes: Open left %d bytes (%v)", n, len(b), err)
			}
		}
	}

	// Shorter than bbolt's magic: zeros and a flag, any file's start.
	for _, n := range []int{1, 8, 19} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, init[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := h195OpenErr(path, ro); !errors.Is(err, ckpt.ErrCorrupt) || strings.Contains(err.Error(), "remove it") {
			t.Errorf("%d bytes: read-only Open: %v, want ErrCorrupt without advice", n, err)
		}
	}

	// A real store cut short: never told it never held one.
	src := filepath.Join(t.TempDir(), "src.db")
	s, err := ckpt.Open(src, ckpt.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{20, 79, 80, 100, ps, 2 * ps, 3 * ps} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, whole[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []ckpt.Options{ro, {}} {
			err := h195OpenErr(path, opts)
			if !errors.Is(err, ckpt.ErrCorrupt) || strings.Contains(err.Error(), "never held") ||
				strings.Contains(err.Error(), "makes the store there") {
				t.Errorf("a store cut to %d bytes, read-only %v: %v, want ErrCorrupt without a new file's advice", n, opts.ReadOnly, err)
			}
		}
	}
}
