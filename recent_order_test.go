package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecentThreadsWithAnIndexKeyOutOfOrder: a global index entry whose id
// a damaged byte moved below the entries before it in its leaf page. The
// walk of the index newest first passes over the keys out of order around
// it and ends with ErrCorrupt, which RecentThreads dropped: the threads
// passed over came after the others, in id order, and the page's order
// was wrong with no error (the fault hunt of TestH164FlipThenMaintenance,
// sealed, seed 9218, after GC). The page must be in the right order or
// the call ErrCorrupt.
func TestRecentThreadsWithAnIndexKeyOutOfOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	// Threads written one after another: the newest first is the reverse
	// of the order written. Enough of them that the index has a page of
	// its own.
	const n = 200
	var threads []string
	var moveID [idLen]byte
	for i := range n {
		th := fmt.Sprintf("t%03d", i)
		cfg, err := s.Save(ctx, th, map[string]any{"n": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == n-3 {
			if moveID, err = parseID("id", cfg); err != nil {
				t.Fatal(err)
			}
		}
		threads = append(threads, th)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(threads)

	// The third newest entry's id becomes the least there is.
	key := indexKey(moveID, fmt.Sprintf("t%03d", n-3), "")
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketIndex)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("the index is missing or inline")
		}
		k, _ := b.Cursor().Seek(key)
		if string(k) != string(key) {
			return nil, fmt.Errorf("index entry %x not found", key)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[off : off+idLen])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, q := range []ThreadQuery{{}, {Limit: 10}} {
		page, err := ro.RecentThreads(ctx, q)
		if errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			t.Fatalf("RecentThreads(%+v) = %v, want a page or ErrCorrupt", q, err)
		}
		var got []string
		for _, ti := range page.Threads {
			got = append(got, ti.ThreadID)
		}
		want := threads
		if q.Limit > 0 {
			want = want[:q.Limit]
		}
		if !slices.Equal(got, want) {
			t.Errorf("RecentThreads(%+v) with an index key out of order, no error:\n got %v\nwant %v", q, got, want)
		}
	}
}
