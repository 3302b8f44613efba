package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestMissingListSegmentIsCorrupt: a list channel stored as append-deltas
// (delta.go) is a run of segments, each a record with its own sum; a sum
// checks the records a read finds, not the ones it does not. With one
// segment gone (its key deleted, as a damaged key or branch page hides
// it), every read of a version that needs it must be ErrCorrupt naming
// thread and channel, never the list without its items: GetTuple, Load,
// Latest, List, History, and Export, whose dump would carry the loss on
// (Import takes the segments as they come).
func TestMissingListSegmentIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const steps = 30
	base := filepath.Join(t.TempDir(), "base.db")
	s, err := Open(base, Options{Durability: NoSync, DeltaFold: 4})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string         // ids[i]: the checkpoint whose msgs holds i+1 items
	step := map[string]int{} // the other way
	var msgs []any
	for i := range steps {
		msgs = append(msgs, fmt.Sprintf("message %d", i))
		id, err := s.Save(ctx, "t", map[string]any{"msgs": msgs, "n": i}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		ids, step[id] = append(ids, id), i
		if _, err := s.Save(ctx, "other", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	type seg struct{ start, count int }
	var segs []seg
	editClosedFile(t, base, func(tx *bolt.Tx) error {
		ts := seedOf("t")
		return tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketSegments).ForEach(func(k, v []byte) error {
			sg, err := decodeSegment(ts, k, v)
			if err != nil {
				return err
			}
			segs = append(segs, seg{sg.start, sg.count})
			return nil
		})
	})
	if len(segs) < 4 {
		t.Fatalf("the list is stored in %d segments, want several: %v", len(segs), segs)
	}
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(err error) bool {
		return errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), `thread "t"`) && strings.Contains(err.Error(), `channel "msgs"`)
	}
	// checkList: msgs as a read returned it must hold want items.
	checkList := func(t *testing.T, what string, raw Raw, want int) {
		t.Helper()
		var got []string
		if err := raw.Decode(&got); err != nil {
			t.Errorf("%s: msgs does not decode (%v) and the read returned no error", what, err)
		} else if len(got) != want {
			t.Errorf("%s: msgs holds %d items, want %d, and the read returned no error", what, len(got), want)
		}
	}
	for _, gone := range []int{0, len(segs) / 2, len(segs) - 1} {
		t.Run(fmt.Sprintf("segment at item %d of %d", segs[gone].start, steps), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketSegments)
				k, _ := b.Cursor().First()
				for range gone {
					k, _ = b.Cursor().Seek(append(bytes.Clone(k), 0))
				}
				return b.Delete(k)
			})
			// needs: the checkpoint of i+1 items needs the segment gone.
			needs := func(i int) bool { return i+1 > segs[gone].start }
			s, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var dump bytes.Buffer
			if _, err := s.Export(ctx, &dump, ExportOptions{}); !corrupt(err) {
				t.Errorf("Export: %v, want ErrCorrupt naming thread and channel", err)
			}
			if _, err := s.Export(ctx, io.Discard, ExportOptions{Threads: []string{"t"}}); !corrupt(err) {
				t.Errorf("Export of the thread: %v, want ErrCorrupt naming thread and channel", err)
			}
			if _, err := s.Export(ctx, io.Discard, ExportOptions{Threads: []string{"other"}}); err != nil {
				t.Errorf("Export of the other thread: %v", err)
			}
			if tp, err := s.GetTuple(ctx, Config{ThreadID: "t"}); !corrupt(err) {
				t.Errorf("GetTuple latest: %v, want ErrCorrupt naming thread and channel", err)
				if err == nil {
					checkList(t, "GetTuple latest", tp.Checkpoint.ChannelValues["msgs"].(Raw), steps)
				}
			}
			if sn, err := s.Latest(ctx, "t"); !corrupt(err) {
				t.Errorf("Latest: %v, want ErrCorrupt naming thread and channel", err)
				if err == nil {
					checkList(t, "Latest", sn.State["msgs"], steps)
				}
			}
			for i, id := range ids {
				tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id})
				switch {
				case needs(i) && !corrupt(err):
					t.Errorf("GetTuple of step %d: %v, want ErrCorrupt naming thread and channel", i, err)
				case !needs(i) && err != nil:
					t.Errorf("GetTuple of step %d (does not need the segment): %v", i, err)
				}
				if err == nil {
					checkList(t, fmt.Sprintf("GetTuple of step %d", i), tp.Checkpoint.ChannelValues["msgs"].(Raw), i+1)
				}
				sn, err := s.Load(ctx, "t", id)
				if needs(i) && !corrupt(err) {
					t.Errorf("Load of step %d: %v, want ErrCorrupt naming thread and channel", i, err)
				}
				if err == nil {
					checkList(t, fmt.Sprintf("Load of step %d", i), sn.State["msgs"], i+1)
				}
			}
			// List and History: each checkpoint yielded holds its whole
			// list, and the walk meets the damage (the newest needs it).
			failed := false
			for tp, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
				if err != nil {
					failed = corrupt(err)
					if !failed {
						t.Errorf("List: %v, want ErrCorrupt naming thread and channel", err)
					}
					break
				}
				n := step[tp.Config.CheckpointID]
				checkList(t, fmt.Sprintf("List, step %d", n), tp.Checkpoint.ChannelValues["msgs"].(Raw), n+1)
			}
			if !failed {
				t.Error("List of the thread ended with no error")
			}
			failed = false
			for sn, err := range s.History(ctx, "t", ListOptions{}) {
				if err != nil {
					failed = corrupt(err)
					if !failed {
						t.Errorf("History: %v, want ErrCorrupt naming thread and channel", err)
					}
					break
				}
				n := step[sn.CheckpointID]
				checkList(t, fmt.Sprintf("History, step %d", n), sn.State["msgs"], n+1)
			}
			if !failed {
				t.Error("History of the thread ended with no error")
			}
		})
	}
}
