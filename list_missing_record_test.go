package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A checkpoint whose record is gone from a closed file (its history
// entries, metadata and values still there: a damaged page, a tool) is
// damage a reader must hear of. Every List shape and History must end in
// ErrCorrupt naming the thread, the namespace and the checkpoint, never
// yield a silently shorter history. The List naming a thread and a
// namespace walks the checkpoint bucket itself (selector.inNS), where the
// missing record leaves no trace: it skipped the checkpoint. The same
// goes the other way for a checkpoint whose record stays and whose
// history-order entry (or global index entry) goes: the List of a thread
// walks the history order, the List over every thread the index, and
// both skipped it; a read that does not walk the damaged bucket may give
// the whole answer instead.
func TestListOfAMissingCheckpointRecordIsCorrupt(t *testing.T) {
	t.Parallel()
	n := listPage + 6 // two List pages
	for _, c := range []struct {
		ns     string
		at     int    // which checkpoint (0 the oldest)
		bucket []byte // whose entry goes
	}{
		{"", 2, bucketCheckpoints}, // on the second page
		{"sub", 2, bucketCheckpoints},
		{"sub", n - 3, bucketCheckpoints}, // on the first
		{"sub", n - 1, bucketOrder},       // the record stays, its history entry goes
		{"", listPage / 2, bucketOrder},
		{"", 2, bucketOrder},
		{"sub", listPage + 1, bucketOrder}, // on the first page of the thread's List, the second of its namespace's
		{"", 2, bucketIndex},               // the record stays, its global index entry goes
		{"sub", n - 1, bucketIndex},
		{"sub", listPage / 2, bucketIndex},
	} {
		ns := c.ns
		t.Run(fmt.Sprintf("ns %q %s %d", ns, c.bucket, c.at), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "missing.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, name := range []string{"", "sub"} {
				got := putChain(t, s, "t", name, n)
				if name == ns {
					ids = got
				}
			}
			putChain(t, s, "other", ns, 3)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			gone := ids[c.at]
			id, err := parseID("checkpoint id", gone)
			if err != nil {
				t.Fatal(err)
			}
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				var b *bolt.Bucket
				var k []byte
				switch string(c.bucket) {
				case string(bucketIndex):
					b, k = tx.Bucket(bucketIndex), indexKey(id, "t", ns)
				case string(bucketOrder):
					b, k = tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(c.bucket), orderKey(id, ns)
				default:
					b, k = tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(c.bucket), checkpointKey(ns, id)
				}
				if b.Get(k) == nil {
					t.Fatal("no entry to delete")
				}
				return b.Delete(k)
			})

			s, err = Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Error("Verify: no problem")
			}
			check := func(what string, seq func(yield func(string, error) bool)) {
				t.Helper()
				var listed []string
				var last error
				for cid, err := range seq {
					if err != nil {
						last = err
						break
					}
					listed = append(listed, cid)
				}
				if last == nil {
					// A read that does not walk the damaged bucket may
					// give the whole answer, the checkpoint included.
					if string(c.bucket) == string(bucketCheckpoints) || !slices.Contains(listed, gone) {
						t.Errorf("%s: no error, %d checkpoints listed without %s (%d stored in the namespace, one entry missing)", what, len(listed), gone, len(ids))
					}
					return
				}
				if !errors.Is(last, ErrCorrupt) {
					t.Errorf("%s: %v, want ErrCorrupt", what, last)
				}
				for _, name := range []string{`"t"`, `"` + ns + `"`, gone} {
					if !strings.Contains(last.Error(), name) {
						t.Errorf("%s: %q does not name %s", what, last, name)
					}
				}
				for _, cid := range listed {
					if cid == gone && string(c.bucket) == string(bucketCheckpoints) {
						t.Errorf("%s: listed the checkpoint without its record", what)
					}
				}
			}
			list := func(opts ListOptions) func(yield func(string, error) bool) {
				return func(yield func(string, error) bool) {
					for tp, err := range s.List(ctx, opts) {
						var cid string
						if tp != nil {
							cid = tp.Config.CheckpointID
						}
						if !yield(cid, err) {
							return
						}
					}
				}
			}
			check("List thread+namespace", list(ListOptions{ThreadID: "t", Namespace: NS(ns)}))
			check("List thread+namespace, limit past it", list(ListOptions{ThreadID: "t", Namespace: NS(ns), Limit: n - c.at}))
			if c.at+1 < n {
				check("List thread+namespace, before", list(ListOptions{ThreadID: "t", Namespace: NS(ns), Before: ids[c.at+1]}))
			}
			check("List thread+namespace, filter", list(ListOptions{ThreadID: "t", Namespace: NS(ns), Filter: map[string]any{"step": c.at}}))
			check("List thread", list(ListOptions{ThreadID: "t"}))
			check("List namespace, all threads", list(ListOptions{Namespace: NS(ns)}))
			check("List all", list(ListOptions{}))
			if c.at+1 < n {
				check("List thread, before", list(ListOptions{ThreadID: "t", Before: ids[c.at+1]}))
				check("List all, before", list(ListOptions{Before: ids[c.at+1]}))
				check("List all, before, limit to it", list(ListOptions{Before: ids[c.at+1], Limit: 3}))
			}
			if ns == "" && string(c.bucket) != string(bucketIndex) { // Branches gives tips, not the history
				check("Branches", func(yield func(string, error) bool) {
					tips, err := s.Branches(ctx, "t")
					for _, tip := range tips {
						if !yield(tip.CheckpointID, nil) {
							return
						}
					}
					yield("", err)
				})
				check("History", func(yield func(string, error) bool) {
					for snap, err := range s.History(ctx, "t", ListOptions{}) {
						var cid string
						if snap != nil {
							cid = snap.CheckpointID
						}
						if !yield(cid, err) {
							return
						}
					}
				})
			}
		})
	}
}

// The newest checkpoint of a namespace is found by one seek in the
// checkpoint bucket: with its record gone (its metadata, history entry
// and values still there), GetTuple(latest), Latest and History took the
// checkpoint before it for the head, silently, and the next Save would
// fork from there. They must say ErrCorrupt naming the checkpoint.
func TestLatestWithTheNewestRecordMissingIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"", "sub"} {
		t.Run("ns "+ns, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "latest.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			ids := putChain(t, s, "t", ns, 4)
			putChain(t, s, "t", "other", 2) // a namespace after it in the key order
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			gone := ids[len(ids)-1]
			id, _ := parseID("checkpoint id", gone)
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints).Delete(checkpointKey(ns, id))
			})
			s, err = Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			want := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), gone) {
					t.Errorf("%s: %v, want ErrCorrupt naming %s", what, err, gone)
				}
			}
			tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: ns})
			if err == nil {
				t.Logf("GetTuple(latest) gave %s", tp.Config.CheckpointID)
			}
			want("GetTuple(latest)", err)
			if ns == "" {
				_, err = s.Latest(ctx, "t")
				want("Latest", err)
				var herr error
				for _, err := range s.History(ctx, "t", ListOptions{}) {
					if err != nil {
						herr = err
						break
					}
				}
				want("History", herr)
				_, err = s.Branches(ctx, "t")
				want("Branches", err)
			}
		})
	}
}
