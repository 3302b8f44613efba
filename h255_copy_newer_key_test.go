package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCopyThreadDoesNotIndexAnIDNoCheckpointHas: a history-order entry
// (ids/, an empty value: no record sum covers its key) whose key a
// flipped byte made newer than every checkpoint of the store, still the
// last key of its leaf page (in order). On the source, RecentThreads
// places the thread by its index entry, which names the true id, and
// finds the damage there. CopyThread wrote the entry into the copy and
// indexed the copy by it: the copy stood in front of the store's truly
// newest thread, its own entry carrying the error, so a page that passed
// over it (Offset 1) showed the newest thread one place down, with no
// error (the fault hunt of TestH164FlipThenMaintenance, sealed, seed
// 30075). A copy must refuse (ErrCorrupt) or leave no page wrong without
// an error.
func TestCopyThreadDoesNotIndexAnIDNoCheckpointHas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	// Enough checkpoints that ids/ has a leaf page of its own.
	const n = 300
	var newest [idLen]byte
	for i := range n {
		cfg, err := s.Save(ctx, "src", map[string]any{"n": i}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		if newest, err = parseID("id", cfg); err != nil {
			t.Fatal(err)
		}
	}
	// The store's newest thread, written last.
	if _, err := s.Save(ctx, "late", map[string]any{"n": 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketThreads).Bucket([]byte("src")).Bucket(bucketOrder)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("ids/ is missing or inline")
		}
		k, _ := b.Cursor().Last()
		if string(k) != string(orderKey(newest, "")) {
			return nil, fmt.Errorf("last ids/ key %x, want the newest checkpoint's", k)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[off:off+idLen]) != string(newest[:]) {
		t.Fatalf("offset %d does not hold the newest id", off)
	}
	// The key's time jumps ahead of every checkpoint's: still the last
	// key of ids/, an id no checkpoint has.
	data[off] ^= 0x40
	s = openThenDamage(t, path, Options{}, data)
	defer s.Close()

	err = s.CopyThread(ctx, "src", "dup", CopyOptions{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CopyThread = %v, want nil or ErrCorrupt", err)
		}
		t.Logf("CopyThread: %v", err)
		if _, err := s.Thread(ctx, "dup"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after a refused CopyThread, Thread of the copy = %v, want ErrNotFound", err)
		}
		return
	}
	// "late" holds the newest checkpoint: a page past the first that
	// shows it, with no error, is wrong.
	for k := range 3 {
		pg, err := s.RecentThreads(ctx, ThreadQuery{Offset: k, Limit: 1})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("RecentThreads at offset %d: %v, want nil or ErrCorrupt", k, err)
			}
			continue
		}
		if len(pg.Threads) == 1 && pg.Threads[0].ThreadID == "late" && k > 0 && (pg.Errs == nil || pg.Errs[0] == nil) {
			t.Errorf("RecentThreads at offset %d shows the newest thread, %q, with no error", k, "late")
		}
	}
}
