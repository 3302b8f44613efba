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

// TestRecentThreadsOverAThreadTheIndexDoesNotName: RecentThreads orders
// threads by the global index, newest first, and puts a stored thread the
// index does not name after the ones it does, in id order: a thread with
// no checkpoint has no index entry. But a thread whose checkpoints the
// index does not name is a damaged index (a flipped byte of the thread's
// name in its one entry, found by TestH164FlipThenMaintenance, seed 29145:
// after CopyThread, p0-copy listed after p0): the order was wrong with no
// error. RecentThreads must give the clean order, or ErrCorrupt, or list
// such a thread with its own ErrCorrupt (ThreadPage.Errs): still found,
// its place not claimed.
func TestRecentThreadsOverAThreadTheIndexDoesNotName(t *testing.T) {
	ctx := context.Background()
	for _, ro := range []bool{true, false} {
		t.Run(fmt.Sprintf("readOnly=%v", ro), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			var idB string
			for _, th := range []string{"a", "b", "c"} {
				cfg, err := s.Put(ctx, Config{ThreadID: th},
					Checkpoint{ChannelValues: map[string]any{"x": th}, ChannelVersions: map[string]string{"x": "v1"}},
					Metadata{"step": 1}, map[string]string{"x": "v1"})
				if err != nil {
					t.Fatal(err)
				}
				if th == "b" {
					idB = cfg.CheckpointID
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			id, err := parseID("id", idB)
			if err != nil {
				t.Fatal(err)
			}
			key := indexKey(id, "b", "")
			// b's one index entry names thread "z", which is not stored.
			s2 := openWithKeyDamage(t, path, ro, Options{Durability: NoSync}, func(tx *bolt.Tx) ([]byte, error) {
				k, _ := tx.Bucket(bucketIndex).Cursor().Seek(key)
				if !bytes.Equal(k, key) {
					return nil, errors.New("b's index entry is missing")
				}
				return k, nil
			}, idLen+2, 'z')
			defer s2.Close()
			page, err := s2.RecentThreads(ctx, ThreadQuery{})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("RecentThreads: %v, want ErrCorrupt", err)
				}
				return
			}
			// A thread listed with an error may stand anywhere; the
			// others must stand in the clean order.
			var got []string
			flagged := map[string]bool{}
			for i, info := range page.Threads {
				if page.Errs != nil && page.Errs[i] != nil {
					if !errors.Is(page.Errs[i], ErrCorrupt) {
						t.Errorf("thread %s: %v, want ErrCorrupt", info.ThreadID, page.Errs[i])
					}
					flagged[info.ThreadID] = true
					continue
				}
				got = append(got, info.ThreadID)
			}
			want := slices.DeleteFunc([]string{"c", "b", "a"}, func(th string) bool { return flagged[th] })
			if !slices.Equal(got, want) || len(page.Threads) != 3 {
				t.Fatalf("RecentThreads = %v (%v flagged) and no error, want [c b a]: each in its place or flagged", got, flagged)
			}
			if !flagged["b"] {
				t.Errorf("b, which the damaged index does not name, is not flagged")
			}
		})
	}
}
