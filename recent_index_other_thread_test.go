package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecentThreadsOverAnIndexEntryNamingAnotherThread: a flipped byte of
// the thread name in one index entry can name another thread that is
// stored, not one that is missing (TestRecentThreadsOverAThreadTheIndex-
// DoesNotName). Checkpoints a1 < b1 < c1 < c2; c2's entry renamed to "a":
// the walk, newest first, met "a" at c2, c at c1, then b, and listed
// [a c b] where the clean order is [c b a], with no error. Every thread
// RecentThreads lists without an error must stand in the clean order
// relative to the others; one it cannot place must carry ErrCorrupt.
func TestRecentThreadsOverAnIndexEntryNamingAnotherThread(t *testing.T) {
	ctx := context.Background()
	for _, ro := range []bool{true, false} {
		t.Run(fmt.Sprintf("readOnly=%v", ro), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			var last Config
			for _, th := range []string{"a", "b", "c", "c"} {
				parent := ""
				if th == "c" && last.ThreadID == "c" {
					parent = last.CheckpointID
				}
				last, err = s.Put(ctx, Config{ThreadID: th, CheckpointID: parent},
					Checkpoint{ChannelValues: map[string]any{"x": th}, ChannelVersions: map[string]string{"x": "v1"}},
					Metadata{"step": 1}, map[string]string{"x": "v1"})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			id, err := parseID("id", last.CheckpointID)
			if err != nil {
				t.Fatal(err)
			}
			key := indexKey(id, "c", "")
			s2 := openWithKeyDamage(t, path, ro, Options{Durability: NoSync}, func(tx *bolt.Tx) ([]byte, error) {
				k, _ := tx.Bucket(bucketIndex).Cursor().Seek(key)
				if !bytes.Equal(k, key) {
					return nil, errors.New("c2's index entry is missing")
				}
				return k, nil
			}, idLen+2, 'a') // c2's entry now names thread a
			defer s2.Close()
			for _, q := range []ThreadQuery{{}, {Limit: 1}, {Offset: 1, Limit: 1}, {Limit: 2}} {
				page, err := s2.RecentThreads(ctx, q)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("RecentThreads(%+v): %v, want ErrCorrupt", q, err)
					}
					continue
				}
				clean := []string{"c", "b", "a"}
				want := len(clean[min(q.Offset, 3):])
				if q.Limit > 0 {
					want = min(q.Limit, want)
				}
				if len(page.Threads) != want {
					t.Fatalf("RecentThreads(%+v): %d threads, want %d", q, len(page.Threads), want)
				}
				// A thread listed without an error stands in the clean
				// order relative to the others listed without one (a
				// flagged thread may stand anywhere: its place is not
				// known), and the whole listing holds every thread once.
				var unflagged []string
				for i, info := range page.Threads {
					if page.Errs != nil && page.Errs[i] != nil {
						if !errors.Is(page.Errs[i], ErrCorrupt) {
							t.Errorf("RecentThreads(%+v): thread %s: %v, want ErrCorrupt", q, info.ThreadID, page.Errs[i])
						}
						continue
					}
					unflagged = append(unflagged, info.ThreadID)
				}
				inOrder := slices.DeleteFunc(slices.Clone(clean), func(th string) bool { return !slices.Contains(unflagged, th) })
				if !slices.Equal(unflagged, inOrder) {
					t.Errorf("RecentThreads(%+v) = %v, %v listed with no error out of the clean order %v", q, threadIDs(page), unflagged, clean)
				}
				if q == (ThreadQuery{}) {
					got := slices.Sorted(slices.Values(threadIDs(page)))
					if !slices.Equal(got, []string{"a", "b", "c"}) {
						t.Errorf("RecentThreads() lists %v, want each of a, b, c once", threadIDs(page))
					}
				}
			}
		})
	}
}

func threadIDs(p ThreadPage) []string {
	var ids []string
	for _, info := range p.Threads {
		ids = append(ids, info.ThreadID)
	}
	return slices.Clip(ids)
}
