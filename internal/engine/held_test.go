package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests that build an engine's state by hand: bbolt written behind the
// engine's back, the log's handle swapped. (They were the root package's,
// through seams into a running engine; what they check is the engine's.)

// openHeldEngine is openTestEngine (with the log) whose applier is held
// (Hooks.HoldApplier): logged groups stay in the log and the overlay.
func openHeldEngine(t *testing.T, path string) *Engine {
	t.Helper()
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks:    Hooks{HoldApplier: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A write may put bytes it just read (a writer's reads point into bbolt's
// memory map, as they do in a bbolt transaction). The overlay keeps them
// after bbolt frees and reuses the pages they came from: it holds its own
// copy.
func TestOverlayOutlivesThePagesItCopied(t *testing.T) {
	t.Parallel()
	e := openHeldEngine(t, filepath.Join(t.TempDir(), "s.db"))
	defer e.Close()
	src, dst := Path{[]byte("src")}, Path{[]byte("dst")}
	want := make([][]byte, 16)
	for i := range want {
		want[i] = bytes.Repeat([]byte{byte(i + 1)}, 8<<10)
	}
	err := do(e, &Op{Apply: func(w Writer) error {
		for i, v := range want {
			if err := w.Put(src, fmt.Appendf(nil, "k%02d", i), v); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	applyLog(t, e) // src is in bbolt now, the overlay is empty
	err = do(e, &Op{Apply: func(w Writer) error {
		for i := range want {
			k := fmt.Appendf(nil, "k%02d", i)
			if err := w.Put(dst, k, w.Get(src, k)); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Behind the engine's back (the applier is held, the commit loop
	// idle), free src's pages and fill them with other bytes (bbolt reuses
	// pages freed by an earlier transaction).
	if err := e.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("src")) }); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("filler"))
		for i := 0; err == nil && i < 64; i++ {
			err = b.Put(fmt.Appendf(nil, "%d", i), bytes.Repeat([]byte{0xee}, 8<<10))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = e.View(context.Background(), func(r Reader) error {
		for i, v := range want {
			if got := r.Get(dst, fmt.Appendf(nil, "k%02d", i)); !bytes.Equal(got, v) {
				return fmt.Errorf("value %d changed under the overlay", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A failed write of a log record fails its group and the store (every
// later write returns ErrFailed); the groups before it stay, and are what
// a reopen finds.
func TestFailedLogWriteFailsStop(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, path, false)
	for i := range 3 {
		if err := do(e, put(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Swap the log's handle for a read-only one: the next write fails.
	ro, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	applyLog(t, e) // the commit loop is idle and stays so until the next write
	rw := e.wal.log.swapFile(ro)
	if err := do(e, put("k3")); !errors.Is(err, ErrFailed) {
		t.Fatalf("a write with a failing log write = %v, want ErrFailed", err)
	}
	if err := do(e, put("k4")); !errors.Is(err, ErrFailed) {
		t.Fatalf("the next write = %v, want ErrFailed", err)
	}
	has := func(e *Engine) (got []string) {
		t.Helper()
		err := e.View(context.Background(), func(r Reader) error {
			for i := range 5 {
				if k := fmt.Sprint("k", i); r.Get(testBucket, []byte(k)) != nil {
					got = append(got, k)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := fmt.Sprint(has(e)); got != "[k0 k1 k2]" {
		t.Fatalf("after the failure reads see %s, want [k0 k1 k2]", got)
	}
	_ = e.Close()
	_ = rw.Close()
	e = openTestEngine(t, path, false)
	defer e.Close()
	if got := fmt.Sprint(has(e)); got != "[k0 k1 k2]" {
		t.Fatalf("after reopen %s, want [k0 k1 k2]", got)
	}
}
