package ckpt

// A damaged key can break the order of a bbolt page (bbolt keeps no
// checksum; its binary search trusts the order). A walk that seeks again
// from a key it read (the namespaces of a thread, one seek each; the
// pages of List, GC and the copies) must still end: a scan never yields
// a key before the one it sought, so each seek goes past the last. On
// 0201d7a Verify of such a file never returned (verifyNamespaces: the
// key after the seek's named a namespace before it, and the next seek
// went back), which TestSpec14RandomFlipsInUpgradedFormat2Store hit now
// and then.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// orderBrokenStore writes thread "t" with one checkpoint in each of the
// namespaces a, b, c and d, then damages two keys of each checkpoint
// record in place: c's length prefix becomes 0xff.. (its key no longer
// parses and sorts last) and d's name becomes "a" (its key parses, and
// sorts before b's). The page then holds a, b, c', d' with d' < b.
func orderBrokenStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][idLen]byte{}
	for _, ns := range []string{"a", "b", "c", "d"} {
		cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: ns}, Checkpoint{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := parseID("checkpoint", cfg.CheckpointID)
		if err != nil {
			t.Fatal(err)
		}
		ids[ns] = id
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage := func(ns string, edit func(k []byte)) {
		k := checkpointKey(ns, ids[ns])
		if editEach(b, k, func(at int) bool { edit(b[at : at+len(k)]); return true }) == 0 {
			t.Fatalf("no key of namespace %q found in the file", ns)
		}
	}
	damage("c", func(k []byte) { k[0] = 0xff })
	damage("d", func(k []byte) { k[2] = 'a' })
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// editEach calls edit at every offset of pat in b (the file's bytes) and
// returns how many edits it made (edit reports whether it made one).
func editEach(b, pat []byte, edit func(at int) bool) int {
	n := 0
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], pat)
		if j < 0 {
			return n
		}
		i += j
		if edit(i) {
			n++
		}
	}
}

// endsWithin fails t unless fn returns within a minute (far more than any of
// these calls takes on a loaded machine; a hang would otherwise stop the
// whole package at go test's timeout, naming nothing).
func endsWithin(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return on a damaged file", what)
	}
}

func TestKeysOutOfOrderEndEveryWalk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := orderBrokenStore(t)
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{ReadOnly: ro})
		if err != nil {
			// Refusing the damaged file is an answer too, if it says so.
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open(ReadOnly=%v) = %v, want ErrCorrupt or a store", ro, err)
			}
			continue
		}
		endsWithin(t, "Verify", func() {
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err == nil && rep.OK() {
				t.Errorf("Verify (ReadOnly=%v) found nothing wrong in a file with two damaged keys", ro)
			}
		})
		endsWithin(t, "List", func() {
			for _, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
				if err != nil {
					break
				}
			}
		})
		if !ro {
			endsWithin(t, "CopyThread", func() { _ = s.CopyThread(ctx, "t", "u", CopyOptions{}) })
			endsWithin(t, "GC", func() { _, _ = s.GC(ctx, Policy{KeepLast: 1}) })
		}
		if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	}
}
