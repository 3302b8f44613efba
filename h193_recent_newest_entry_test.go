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

// TestRecentThreadsOverADamagedNewestIndexEntry: the sibling of
// TestRecentThreadsOverAThreadTheIndexDoesNotName. Thread b holds two
// checkpoints, the oldest and the newest of the store (a and c wrote in
// between): the clean order is [b c a]. A flipped byte of the thread's
// name in b's NEWEST index entry (its older one intact) makes the index
// name another thread there: one not stored ("z": the walk passes the
// entry over) or one stored ("a": the walk places a by b's checkpoint).
// Either way the index still names b, by its older entry, so b is not
// "unindexed", and RecentThreads listed [c a b] or [a c b] with no error:
// threads out of their place, which it promises to tell. The order must
// be the clean one, or ErrCorrupt, or each thread out of place flagged
// with its own ErrCorrupt (ThreadPage.Errs).
func TestRecentThreadsOverADamagedNewestIndexEntry(t *testing.T) {
	ctx := context.Background()
	for _, to := range []byte{'z', 'a'} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("renamed=%c/readOnly=%v", to, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "s.db")
				s, err := Open(path, Options{Durability: NoSync})
				if err != nil {
					t.Fatal(err)
				}
				// a writes 60 checkpoints: the index then fills a page
				// of its own, which Open's own writes leave in place
				// (inline in the root page, it moved, and the damage
				// written under the open store fell on a freed page).
				writers := []string{"b"}
				for range 60 {
					writers = append(writers, "a")
				}
				writers = append(writers, "c", "b")
				heads := map[string]string{}
				var newestB string
				for i, th := range writers {
					cfg, err := s.Put(ctx, Config{ThreadID: th, CheckpointID: heads[th]},
						Checkpoint{ChannelValues: map[string]any{"x": i}, ChannelVersions: map[string]string{"x": fmt.Sprint("v", i)}},
						Metadata{"step": i}, map[string]string{"x": fmt.Sprint("v", i)})
					if err != nil {
						t.Fatal(err)
					}
					heads[th] = cfg.CheckpointID
					if th == "b" {
						newestB = cfg.CheckpointID
					}
				}
				clean, err := s.RecentThreads(ctx, ThreadQuery{})
				if err != nil || len(clean.Threads) != 3 || clean.Threads[0].ThreadID != "b" {
					t.Fatalf("the sound store: %+v, %v; want b first of 3", clean, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				id, err := parseID("id", newestB)
				if err != nil {
					t.Fatal(err)
				}
				key := indexKey(id, "b", "")
				s2 := openWithKeyDamage(t, path, ro, Options{Durability: NoSync}, func(tx *bolt.Tx) ([]byte, error) {
					k, _ := tx.Bucket(bucketIndex).Cursor().Seek(key)
					if !bytes.Equal(k, key) {
						return nil, errors.New("b's newest index entry is missing")
					}
					return k, nil
				}, idLen+2, to) // the entry's thread name
				defer s2.Close()
				for _, q := range []ThreadQuery{{}, {Limit: 1}, {Offset: 1, Limit: 1}} {
					page, err := s2.RecentThreads(ctx, q)
					if err != nil {
						if !errors.Is(err, ErrCorrupt) {
							t.Errorf("RecentThreads %+v: %v, want ErrCorrupt", q, err)
						}
						continue
					}
					want := []string{"b", "c", "a"}[q.Offset:]
					if q.Limit > 0 {
						want = want[:q.Limit]
					}
					// A flagged thread may stand anywhere; the others
					// must stand in the clean order.
					var got []string
					flagged := map[string]bool{}
					for i, info := range page.Threads {
						if page.Errs != nil && page.Errs[i] != nil {
							if !errors.Is(page.Errs[i], ErrCorrupt) {
								t.Errorf("RecentThreads %+v: thread %s: %v, want ErrCorrupt", q, info.ThreadID, page.Errs[i])
							}
							flagged[info.ThreadID] = true
							continue
						}
						got = append(got, info.ThreadID)
					}
					if len(flagged) > 0 {
						// The flagged took their slots: the others are a
						// prefix of the clean order without them.
						want = slices.DeleteFunc(slices.Clone(want), func(th string) bool { return flagged[th] })
						want = want[:min(len(want), len(got))]
					}
					if !slices.Equal(got, want) {
						t.Errorf("RecentThreads %+v = %v and no error, want %v: each thread in its place or flagged", q, names(page), want)
					}
				}
			})
		}
	}
}

func names(p ThreadPage) []string {
	var out []string
	for i, info := range p.Threads {
		n := info.ThreadID
		if p.Errs != nil && p.Errs[i] != nil {
			n += "(flagged)"
		}
		out = append(out, n)
	}
	return slices.Clip(out)
}

// TestRecentThreadsOverAnEntryRenamedToAThreadAbove: b's one index entry
// renamed to c, the thread placed above it. The walk passes the entry
// over (c is placed already), so the index names b nowhere: b, which
// holds a checkpoint, must be flagged (listed last, its place not known)
// or the call ErrCorrupt. The read-write case needs the index in a page
// of its own (a's 60 checkpoints): inline in the root page, Open's own
// writes moved it and the damage written under the open store fell on a
// freed page (TestRecentThreadsOverAThreadTheIndexDoesNotName's
// read-write case reads a clean index so).
func TestRecentThreadsOverAnEntryRenamedToAThreadAbove(t *testing.T) {
	ctx := context.Background()
	for _, ro := range []bool{true, false} {
		t.Run(fmt.Sprintf("readOnly=%v", ro), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			heads := map[string]string{}
			for i := range 62 {
				th := "a"
				switch i {
				case 60:
					th = "b"
				case 61:
					th = "c"
				}
				cfg, err := s.Put(ctx, Config{ThreadID: th, CheckpointID: heads[th]},
					Checkpoint{ChannelValues: map[string]any{"x": i}, ChannelVersions: map[string]string{"x": fmt.Sprint("v", i)}},
					Metadata{"step": i}, map[string]string{"x": fmt.Sprint("v", i)})
				if err != nil {
					t.Fatal(err)
				}
				heads[th] = cfg.CheckpointID
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			id, err := parseID("id", heads["b"])
			if err != nil {
				t.Fatal(err)
			}
			key := indexKey(id, "b", "")
			s2 := openWithKeyDamage(t, path, ro, Options{Durability: NoSync}, func(tx *bolt.Tx) ([]byte, error) {
				k, _ := tx.Bucket(bucketIndex).Cursor().Seek(key)
				if !bytes.Equal(k, key) {
					return nil, errors.New("b's index entry is missing")
				}
				return k, nil
			}, idLen+2, 'c') // the entry's thread name
			defer s2.Close()
			page, err := s2.RecentThreads(ctx, ThreadQuery{})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("RecentThreads: %v, want ErrCorrupt", err)
				}
				return
			}
			if got := names(page); !slices.Equal(got, []string{"c", "a", "b(flagged)"}) {
				t.Errorf("RecentThreads = %v and no error, want [c a b(flagged)]: b's place is not known", got)
			}
		})
	}
}
