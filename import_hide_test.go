package ckpt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestReadOnlyHandleHidesAnUnfinishedImport: a file holding the threads of
// an import a killed process left unfinished (listed under imports/, some
// of their records missing) reads, on a read-only handle, exactly as it did
// before the import: List, Threads, GetTuple, Export and Verify do not see
// those threads (before, a List over the store was ErrCorrupt and Verify
// listed one problem per thread, so `ckpt verify` failed right after a
// killed import); a read-write Open then deletes them, as before.
func TestReadOnlyHandleHidesAnUnfinishedImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	putChain(t, s, "keep", "", 3)
	putChain(t, s, "keep", "ns", 2)
	before := storeState(t, s)
	var dumpBefore bytes.Buffer
	if _, err := s.Export(ctx, &dumpBefore, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	// What a killed import leaves: threads listed under an import id,
	// one of them missing a value its checkpoint names.
	putChain(t, s, "half-a", "", 3)
	putChain(t, s, "half-b", "sub", 2)
	id := [idLen]byte{1, 2, 3}
	if err := s.write(ctx, func(w writer) error {
		for _, th := range []string{"half-a", "half-b"} {
			if err := w.Put(importPath(id), []byte(th), nil); err != nil {
				return err
			}
		}
		return w.Del(threadPath("half-a", bucketBlobs), blobKey("", "messages", "1"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := storeState(t, ro); !slices.Equal(got, before) {
		t.Fatalf("a read-only handle reads %d checkpoints, want the %d from before the import", len(got), len(before))
	}
	for info, err := range ro.Threads(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if info.ThreadID != "keep" {
			t.Fatalf("Threads lists %q", info.ThreadID)
		}
	}
	if _, err := ro.GetTuple(ctx, Config{ThreadID: "half-a"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetTuple of a thread of the unfinished import: %v, want ErrNotFound", err)
	}
	if _, err := ro.Thread(ctx, "half-b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Thread of a thread of the unfinished import: %v, want ErrNotFound", err)
	}
	var dump bytes.Buffer
	if _, err := ro.Export(ctx, &dump, ExportOptions{}); err != nil || !bytes.Equal(dump.Bytes(), dumpBefore.Bytes()) {
		t.Fatalf("Export on a read-only handle differs from before the import (%v)", err)
	}
	rep, err := ro.Verify(ctx, VerifyOptions{})
	if err != nil || !rep.OK() || rep.Threads != 1 {
		t.Fatalf("Verify: %d threads, %v %v", rep.Threads, rep.Problems, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	rw, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if got := storeState(t, rw); !slices.Equal(got, before) {
		t.Fatalf("after a read-write open: %d checkpoints, want %d", len(got), len(before))
	}
}
