package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGCSweepKeepsValuesPastARaisedKey: namespace "b" holds three
// checkpoints A, B, C, the last keys of the thread's cp/; a damaged byte
// turned B's key into one of namespace "c", still between A and C in the
// leaf page. GC with KeepLast 1 keeps C and sweeps b's values that no
// kept checkpoint names, which it learns by a scan of b's prefix: the scan
// ended at B's key, the first outside the prefix, C was never read, and
// C's value was swept with no error. The same when C's own key is the one
// damaged (the last of cp/, still in order). GC must refuse (ErrCorrupt)
// and delete no value a checkpoint it keeps names.
func TestGCSweepKeepsValuesPastARaisedKey(t *testing.T) {
	t.Parallel()
	for _, mode := range bothLogModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			for raised := range 3 {
				for keep := 1; keep <= 2; keep++ {
					t.Run(fmt.Sprintf("raised%d-keep%d", raised, keep), func(t *testing.T) {
						gcSweepPastRaisedKey(t, mode.opts, raised, keep)
					})
				}
			}
		})
	}
}

func gcSweepPastRaisedKey(t *testing.T, opts Options, raised, keep int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	put := func(ns string, n int) []string {
		t.Helper()
		var ids []string
		parent := ""
		for i := range n {
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: parent},
				Checkpoint{ChannelValues: map[string]any{"x": fmt.Sprint(ns, i)}, ChannelVersions: map[string]string{"x": fmt.Sprintf("v%06d", i)}},
				Metadata{"step": i}, map[string]string{"x": fmt.Sprintf("v%06d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, cfg.CheckpointID)
			parent = cfg.CheckpointID
		}
		return ids
	}
	// Enough checkpoints of "a" that cp/ has leaf pages of its own.
	put("a", h174NA)
	b := put("b", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	idB, err := parseID("id", b[raised])
	if err != nil {
		t.Fatal(err)
	}
	keyB := checkpointKey("b", idB)

	// Where B's key lies in the file as Open left it (its commit moves
	// pages, as the log's groups left them: not where they were in the
	// closed file every run): the last key of cp/ but 2-raised.
	s = openThenDamageFound(t, path, opts, func(b []byte) {
		off := threadKeyOffsetIn(t, b, "t", bucketCheckpoints, keyB)
		if !bytes.Equal(b[off:off+len(keyB)], keyB) {
			t.Fatalf("offset %d does not hold B's key", off)
		}
		// nsKey("b") is len16 | "b": the name's byte becomes "c".
		b[off+len(nsKey("b"))-1] = 'c'
	})
	_, gcErr := s.GC(ctx, Policy{KeepLast: keep})
	if gcErr != nil && !errors.Is(gcErr, ErrCorrupt) {
		t.Fatalf("GC = %v, want nil or ErrCorrupt", gcErr)
	}
	if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}

	// Every value a kept checkpoint names is still stored: the sweep
	// deletes none of them, damage or not (the damaged key itself stays:
	// GC's earlier transactions rewrote its page).
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Logf("GC: %v", gcErr)
	err = db.View(func(tx *bolt.Tx) error {
		bl := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketBlobs)
		for i := 3 - keep; i < 3; i++ {
			if bl.Get(blobKey("b", "x", fmt.Sprintf("v%06d", i))) == nil {
				return fmt.Errorf("GC (%v) swept the value of kept checkpoint %d", gcErr, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if gcErr == nil {
		t.Fatal("GC over a damaged cp/ key returned no error")
	}
}
