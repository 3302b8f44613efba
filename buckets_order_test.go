package ckpt

// A damaged thread name (a key of the threads bucket's page: bbolt keeps
// no checksum) can break the page's order, as a damaged key can in any
// bucket (scan_order_test.go). The walks over the threads that read a
// page of names and go on after the last one (Export of every thread,
// Threads, retention's eachThread) seek again from a name they read: a
// name that sorts before its neighbours sent the seek back to the first
// thread, and on 193d1ae Export of such a file never returned.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// threadNameBrokenStore writes 34 threads, thread-00 to thread-33, one
// checkpoint each, then renames the last one's bucket in place to
// "thread- 3", which sorts before every other name while its key stays
// last in the page.
func threadNameBrokenStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 34 {
		if _, err := s.Put(ctx, Config{ThreadID: fmt.Sprintf("thread-%02d", i)}, Checkpoint{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The name is the bucket's key; in the directory and the index it
	// follows its length (len16), which stays.
	name := []byte("thread-33")
	n := editEach(b, name, func(i int) bool {
		if i >= 2 && bytes.Equal(b[i-2:i], []byte{0, byte(len(name))}) {
			return false
		}
		b[i+7] = ' '
		return true
	})
	if n == 0 {
		t.Fatal("no bucket name of thread-33 found in the file")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestThreadNamesOutOfOrderEndEveryWalk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := threadNameBrokenStore(t)
	for _, ro := range []bool{true, false} {
		// Pages of one name, so every walk seeks again after each.
		s, err := Open(path, Options{ReadOnly: ro, tuning: &tuning{namePage: 1}})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open(ReadOnly=%v) = %v, want ErrCorrupt or a store", ro, err)
			}
			continue
		}
		endsWithin(t, "Export", func() { _, _ = s.Export(ctx, io.Discard, ExportOptions{}) })
		endsWithin(t, "Threads", func() {
			for _, err := range s.Threads(ctx) {
				if err != nil {
					break
				}
			}
		})
		if !ro {
			endsWithin(t, "GC", func() { _, _ = s.GC(ctx, Policy{KeepLast: 1}) })
		}
		if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	}
}
