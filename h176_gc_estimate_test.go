package ckpt

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

// TestH176GCDryRunWithAKeyOutOfOrder: a pending write's key (wr/), or a
// channel value's (bl/), made equal to the key before it in its leaf page
// (a damaged byte; no sum covers the key a scan of keys walks). The walk
// of that bucket passes over it and ends with ErrCorrupt, which GC's dry
// run dropped (gc_plan.go's estimate and estimateThread): the estimate
// counted one write, or one value, fewer than a GC removes, with no
// error. A dry run must count what a GC removes or say ErrCorrupt.
func TestH176GCDryRunWithAKeyOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, sub := range [][]byte{bucketWrites, bucketBlobs} {
		t.Run(string(sub), func(t *testing.T) {
			t.Parallel()
			testGCDryRunWithAKeyOutOfOrder(t, sub)
		})
	}
}

func testGCDryRunWithAKeyOutOfOrder(t *testing.T, sub []byte) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	// Enough checkpoints, each with its writes, that wr/ and bl/ have
	// pages of their own.
	const n = 80
	for i := range n {
		id, err := s.Save(ctx, "t", map[string]any{"n": i, "s": fmt.Sprintf("value %d", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		writes := []Write{{"a", i}, {"b", i}, {"c", i}, {"d", i}}
		if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, writes, "task", ""); err != nil {
			t.Fatal(err)
		}
	}
	policies := []Policy{{KeepLast: 1, DryRun: true}, {ThreadTTL: time.Nanosecond, DryRun: true}}
	var want []GCStats
	for _, p := range policies {
		st, err := s.GC(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The 30th key of the bucket (an old checkpoint's, which both
	// policies remove) becomes the one before it.
	var prev []byte
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(sub)
		if b == nil || b.Root() == 0 {
			return nil, fmt.Errorf("%s/ is missing or inline", sub)
		}
		c := b.Cursor()
		k, _ := c.First()
		for range 29 {
			prev = bytes.Clone(k)
			k, _ = c.Next()
		}
		if k == nil || len(k) != len(prev) {
			return nil, fmt.Errorf("%s/: key %x after %x, want one of the same length", sub, k, prev)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[off:], prev)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for i, p := range policies {
		st, err := ro.GC(ctx, p)
		switch {
		case errors.Is(err, ErrCorrupt):
			t.Logf("GC(%+v): %v", p, err)
		case err != nil:
			t.Errorf("GC(%+v) = %v, want the estimate or ErrCorrupt", p, err)
		case st != want[i]:
			t.Errorf("GC(%+v) with a %s/ key out of order = %+v and no error, want %+v or ErrCorrupt", p, sub, st, want[i])
		}
	}
}
