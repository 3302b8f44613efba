package ckpt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// recentByThreads is RecentThreads's order computed the slow way: every
// thread summarised, sorted by newest checkpoint id.
func recentByThreads(t *testing.T, s *Store, prefix string) []ThreadInfo {
	t.Helper()
	var all []ThreadInfo
	for info, err := range s.Threads(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(info.ThreadID, prefix) {
			all = append(all, info)
		}
	}
	slices.SortFunc(all, func(a, b ThreadInfo) int { return strings.Compare(b.NewestID, a.NewestID) })
	return all
}

// TestRecentThreadsPagesNewestFirst checks every page of RecentThreads,
// with and without prefixes (one a whole thread id, one matching none),
// against the order of Thread's summaries, after interleaved writes in
// two namespaces, a deleted thread and a thread written again.
func TestRecentThreadsPagesNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "r.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(18, 7))
	names := []string{"a", "ab", "abc", "abd", "b", "ba", "c-1", "c-2", "c-3", "c-10", "zz"}
	for range 120 {
		thread := names[rng.IntN(len(names))]
		ns := ""
		if rng.IntN(4) == 0 {
			ns = "sub:1"
		}
		cfg := Config{ThreadID: thread, CheckpointNS: ns}
		if _, err := s.Put(ctx, cfg, Checkpoint{ChannelValues: map[string]any{"n": rng.IntN(9)}, ChannelVersions: map[string]string{"n": fmt.Sprint(rng.Int())}},
			Metadata{"step": 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteThread(ctx, "abd"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "a", map[string]any{"again": true}, nil); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "a", "ab", "abc", "abd", "c-", "c-1", "q"} {
		want := recentByThreads(t, s, prefix)
		for _, limit := range []int{0, 1, 2, 3, 50} {
			for offset := 0; offset <= len(want)+1; offset++ {
				page, err := s.RecentThreads(ctx, ThreadQuery{Prefix: prefix, Offset: offset, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				exp := want[min(offset, len(want)):]
				if limit > 0 {
					exp = exp[:min(limit, len(exp))]
				}
				if page.Total != len(want) || page.Errs != nil || !equalInfos(page.Threads, exp) {
					t.Fatalf("prefix %q offset %d limit %d: total %d, errs %v, threads %v; want total %d, threads %v",
						prefix, offset, limit, page.Total, page.Errs, ids(page.Threads), len(want), ids(exp))
				}
			}
		}
	}
	if got, err := s.RecentThreads(ctx, ThreadQuery{Limit: 1}); err != nil || len(got.Threads) != 1 || got.Threads[0].ThreadID != "a" {
		t.Fatalf("newest thread after writing a again: %v, %v", got.Threads, err)
	}
	for _, q := range []ThreadQuery{{Offset: -1}, {Limit: -1}} {
		if _, err := s.RecentThreads(ctx, q); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("RecentThreads(%+v) = %v, want ErrInvalidConfig", q, err)
		}
	}
}

func ids(infos []ThreadInfo) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.ThreadID)
	}
	return out
}

func equalInfos(a, b []ThreadInfo) bool {
	return slices.EqualFunc(a, b, func(x, y ThreadInfo) bool {
		return x.ThreadID == y.ThreadID && x.NewestID == y.NewestID && x.NewestTime.Equal(y.NewestTime) &&
			x.Checkpoints == y.Checkpoints && x.PendingWrites == y.PendingWrites && x.Bytes == y.Bytes &&
			slices.Equal(x.Namespaces, y.Namespaces)
	})
}

// TestRecentThreadsFindsAThreadTheIndexLost: a thread whose entries in
// the global index are gone (damage) is still listed, after the threads
// the index names, so every thread can be found from the front page, with
// its own ErrCorrupt (ThreadPage.Errs): its place is not known.
func TestRecentThreadsFindsAThreadTheIndexLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lost.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, thread := range []string{"old", "lost", "new"} {
		if _, err := s.Save(ctx, thread, map[string]any{"x": thread}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	if err := db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIndex).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if _, thread, _, err := parseIndexKey(k); err == nil && thread == "lost" {
				if err := c.Delete(); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if removed != 1 {
		t.Fatalf("removed %d index entries of thread lost, want 1", removed)
	}
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		q    ThreadQuery
		want []string
	}{
		{ThreadQuery{}, []string{"new", "old", "lost"}},
		{ThreadQuery{Limit: 2}, []string{"new", "old"}},
		{ThreadQuery{Offset: 2, Limit: 2}, []string{"lost"}},
		{ThreadQuery{Prefix: "l"}, []string{"lost"}},
	} {
		page, err := s.RecentThreads(ctx, c.q)
		if err != nil || !slices.Equal(ids(page.Threads), c.want) {
			t.Errorf("RecentThreads(%+v) = %v, %v; want %v", c.q, ids(page.Threads), err, c.want)
		}
		// Listed, with its error: its place in the order is not known.
		for i, th := range ids(page.Threads) {
			var terr error
			if page.Errs != nil {
				terr = page.Errs[i]
			}
			if err == nil && errors.Is(terr, ErrCorrupt) != (th == "lost") {
				t.Errorf("RecentThreads(%+v): thread %s's error %v; want ErrCorrupt for lost alone", c.q, th, terr)
			}
		}
	}
}
