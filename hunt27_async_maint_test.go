package ckpt_test

// Maintenance that goes on from each of its transactions' outcomes (Import,
// Rekey) on a store whose default durability is Async. Found by the real
// full disk hunt (realdisk_linux_test.go): its Async Import rounds returned
// nil with the imported thread missing, with space to spare.

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestImportOnAsyncStore: Import on a store opened with Durability Async
// returns nil only once the dump is in the file: every thread of the dump
// is there after Close and a reopen, each checkpoint with its pending
// write. An import that names an existing thread fails and leaves nothing.
func TestImportOnAsyncStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const threads, steps = 3, 30
	for th := range threads {
		for i := range steps {
			id, err := src.Save(ctx, fmt.Sprint("imp", th), map[string]any{"i": i, "pad": bytes.Repeat([]byte{byte(i)}, 2000)}, ckpt.Metadata{"i": i})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.PutWrites(ctx, ckpt.Config{ThreadID: fmt.Sprint("imp", th), CheckpointID: id}, []ckpt.Write{{Channel: "w", Value: i}}, "task", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, noWAL := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("dst-%v.db", noWAL))
		s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.Async, NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{}); err != nil {
			t.Fatalf("nowal %v: Import: %v", noWAL, err)
		}
		// The same dump again: every thread exists, so it must fail and
		// change nothing.
		if _, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{}); err == nil {
			t.Errorf("nowal %v: a second Import of the same threads returned nil", noWAL)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("nowal %v: Close: %v", noWAL, err)
		}
		s, err = ckpt.Open(path, ckpt.Options{NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		for th := range threads {
			n := 0
			for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: fmt.Sprint("imp", th)}) {
				if err != nil {
					t.Fatalf("nowal %v: list: %v", noWAL, err)
				}
				var i, w int
				if err := tp.Decode("i", &i); err != nil {
					t.Errorf("nowal %v: %v", noWAL, err)
				}
				if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].Value.Decode(&w) != nil || w != i {
					t.Errorf("nowal %v: thread imp%d checkpoint %d: pending writes %v", noWAL, th, i, tp.PendingWrites)
				}
				n++
			}
			if n != steps {
				t.Errorf("nowal %v: Import returned nil; thread imp%d has %d checkpoints, want %d", noWAL, th, n, steps)
			}
		}
		if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("nowal %v: Verify: %+v, %v", noWAL, rep, err)
		}
		_ = s.Close()
	}
}

// TestRekeyOnAsyncStore: Rekey on a store opened with Durability Async
// re-seals every record before it returns nil: the file then opens and
// reads with the new key alone.
func TestRekeyOnAsyncStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	oldKey, newKey := ckpt.Key{ID: 1, Secret: [32]byte{1}}, ckpt.Key{ID: 2, Secret: [32]byte{2}}
	s, err := ckpt.Open(path, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	const steps = 400 // more records than one of Rekey's transactions takes
	for i := range steps {
		if _, err := s.Save(ctx, "t", map[string]any{"i": i, "pad": bytes.Repeat([]byte{byte(i)}, 300)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{Durability: ckpt.Async, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{newKey, oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	// On main Rekey went round without end here (each transaction's
	// outcome read before it ran): the deadline makes that a failure, not
	// a hung test; a Rekey that works takes milliseconds.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := s.Rekey(rctx)
	if err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if st.Resealed == 0 {
		t.Errorf("Rekey returned nil having re-sealed nothing (%+v)", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{newKey}}})
	if err != nil {
		t.Fatalf("Rekey returned nil; the file with the new key alone: %v", err)
	}
	defer s.Close()
	n := 0
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatalf("Rekey returned nil; list with the new key alone: %v", err)
		}
		var pad []byte
		if err := tp.Decode("pad", &pad); err != nil {
			t.Fatalf("Rekey returned nil; a value with the new key alone: %v", err)
		}
		n++
	}
	if n != steps {
		t.Errorf("%d checkpoints, want %d", n, steps)
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify: %+v, %v", rep, err)
	}
}
