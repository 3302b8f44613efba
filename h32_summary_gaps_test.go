package ckpt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestSummariesOfAThreadMissingARecord: Threads, Thread, Stats and Export
// walk every record of a thread; a sum checks the records a walk finds,
// not one damage hid (a key or page deleted or moved). With one record of
// a thread gone, each must be ErrCorrupt (naming the thread; Stats, on
// this read-only handle, names it damaged instead: H239) as the reads of it
// are, not counts short of what was stored or a dump without it: a list
// segment, a pending write (counted by the checkpoint's tally), a
// checkpoint's history-order entry, metadata or checkpoint record, and a
// channel value a checkpoint names. (Threads and Thread report counts of
// checkpoints and pending writes, checked; of a missing segment or value
// only their byte count tells, and they do not look for one: see
// threadCensus.full.)
func TestSummariesOfAThreadMissingARecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "base.db")
	s, err := Open(base, Options{Durability: NoSync, DeltaFold: 4})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []any
	for i := range 12 {
		msgs = append(msgs, fmt.Sprintf("message %d", i))
		id, err := s.Save(ctx, "t", map[string]any{"msgs": msgs, "n": i}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "a", Value: i}, {Channel: "b", Value: i}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "u", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range [][]byte{bucketSegments, bucketWrites, bucketOrder, bucketMetadata, bucketCheckpoints, bucketBlobs} {
		t.Run(string(sub), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			// The middle record of the bucket (of a segment: its
			// lineage's middle segment; of a value: one a checkpoint
			// names, every stored value being one).
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(sub)
				var keys [][]byte
				if err := b.ForEach(func(k, _ []byte) error {
					keys = append(keys, k)
					return nil
				}); err != nil {
					return err
				}
				return b.Delete(keys[len(keys)/2])
			})
			s, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			corrupt := func(what string, err error, named bool) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || named && !strings.Contains(err.Error(), `thread "t"`) {
					t.Errorf("%s: %v, want ErrCorrupt naming thread \"t\"", what, err)
				}
			}
			bytesOnly := string(sub) == string(bucketSegments) || string(sub) == string(bucketBlobs)
			var terr error
			for info, err := range s.Threads(ctx) {
				if err != nil {
					terr = err
					break
				}
				if info.ThreadID == "t" && !bytesOnly {
					t.Errorf("Threads yielded %+v", info)
				}
			}
			info, err := s.Thread(ctx, "t")
			if bytesOnly {
				if terr != nil || err != nil || info.Checkpoints != 12 || info.PendingWrites != 24 {
					t.Errorf("Threads: %v; Thread: %+v %v, want 12 checkpoints and 24 pending writes", terr, info, err)
				}
			} else {
				corrupt("Threads", terr, true)
				if err == nil {
					t.Errorf("Thread returned %+v", info)
				}
				corrupt("Thread", err, true)
			}
			// A read-only Stats names the damaged thread and counts the
			// others (H239): u's 12 checkpoints alone.
			st, err := s.Stats(ctx)
			if err != nil || !slices.Equal(st.DamagedThreads, []string{"t"}) || st.Checkpoints != 12 {
				t.Errorf("Stats: %+v, %v; want thread t named damaged, u's 12 checkpoints counted", st, err)
			}
			_, err = s.Export(ctx, io.Discard, ExportOptions{})
			corrupt("Export", err, true)
			_, err = s.Export(ctx, io.Discard, ExportOptions{Threads: []string{"u"}})
			if err != nil {
				t.Errorf("Export of the intact thread: %v", err)
			}
			if _, err := s.Thread(ctx, "u"); err != nil {
				t.Errorf("Thread of the intact thread: %v", err)
			}
		})
	}
}
