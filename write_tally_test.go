package ckpt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// deleteWrites removes from a closed file the pending writes of thread's
// checkpoint id (of namespace ns) for which drop is true, as a flipped key
// or branch page would hide them from the checkpoint's scan. It fails the
// test when drop takes none.
func deleteWrites(t *testing.T, path, thread, ns, id string, drop func(task string, idx int) bool) {
	t.Helper()
	cid, err := parseID("id", id)
	if err != nil {
		t.Fatal(err)
	}
	prefix := checkpointKey(ns, cid)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads).Bucket([]byte(thread)).Bucket(bucketWrites)
		var gone [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			task, idx, err := parseWriteKey(prefix, k)
			if err != nil {
				return err
			}
			if drop(task, idx) {
				gone = append(gone, bytes.Clone(k))
			}
		}
		if len(gone) == 0 {
			t.Fatalf("no pending write of checkpoint %s to delete", id)
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// readsOfCheckpoint runs every read of thread's checkpoint id (ns "") and
// of the thread's history, and returns each one's error by name.
func readsOfCheckpoint(t *testing.T, s *Store, thread, id string, head bool) map[string]error {
	t.Helper()
	ctx := context.Background()
	errs := map[string]error{}
	cfg := Config{ThreadID: thread, CheckpointID: id}
	_, errs["GetTuple"] = s.GetTuple(ctx, cfg)
	_, errs["Reader.GetTuple"] = s.NewReader().GetTuple(ctx, cfg)
	if head {
		_, errs["GetTuple latest"] = s.GetTuple(ctx, Config{ThreadID: thread})
	}
	for name, opts := range map[string]ListOptions{"List thread ns": {ThreadID: thread, Namespace: NS("")}, "List thread": {ThreadID: thread}, "List all": {}} {
		for _, err := range s.List(ctx, opts) {
			if err != nil {
				errs[name] = err
				break
			}
		}
	}
	_, errs["Export"] = s.Export(ctx, io.Discard, ExportOptions{})
	return errs
}

// A checkpoint's pending writes are part of it: a resume runs the tasks
// whose writes are missing again. When some or all of them are gone (a
// flipped byte in a write's key moves it out of the checkpoint's prefix, a
// flipped branch page sends the scan past them), every read of the
// checkpoint must say ErrCorrupt, naming thread and checkpoint, and Verify
// must list it. Reads used to hand back the checkpoint with fewer pending
// writes, or none, and no error.
func TestPendingWritesGoneAreCorrupt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		drop func(task string, idx int) bool
	}{
		{"one regular write", func(_ string, idx int) bool { return idx == 0 }},
		{"one special write", func(_ string, idx int) bool { return idx < 0 }},
		{"every write", func(string, int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "gone.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			ids := putChain(t, s, "t", "", 4) // two writes each: task "task" idx 0 and -1
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, at := range []int{1, 3} {
				deleteWrites(t, path, "t", "", ids[at], tc.drop)
			}
			if s, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, at := range []int{1, 3} {
				for name, err := range readsOfCheckpoint(t, s, "t", ids[at], at == 3) {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("checkpoint %d: %s = %v, want ErrCorrupt", at, name, err)
					}
					// A List or Export stops at the first damaged one it meets.
					named := strings.Contains(err.Error(), ids[at]) ||
						!strings.HasPrefix(name, "GetTuple") && !strings.HasPrefix(name, "Reader") && strings.Contains(err.Error(), ids[1+3-at])
					if !named || !strings.Contains(err.Error(), `"t"`) {
						t.Fatalf("checkpoint %d: %s: %v does not name the thread and a damaged checkpoint", at, name, err)
					}
				}
			}
			// The others read back whole.
			for _, at := range []int{0, 2} {
				tp, err := s.GetTuple(context.Background(), Config{ThreadID: "t", CheckpointID: ids[at]})
				if err != nil || len(tp.PendingWrites) != 2 {
					t.Fatalf("intact checkpoint %d: %v, %d pending writes", at, err, len(tp.PendingWrites))
				}
			}
			rep, err := s.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]bool{}
			for _, p := range rep.Problems {
				listed[p.CheckpointID] = true
			}
			if !listed[ids[1]] || !listed[ids[3]] {
				t.Fatalf("Verify does not list both checkpoints: %v", rep.Problems)
			}
		})
	}
	t.Run("Load", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "gone.db")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"x": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "x", Value: 2}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		deleteWrites(t, path, "t", "", id, func(string, int) bool { return true })
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Load(ctx, "t", id); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Load = %v, want ErrCorrupt", err)
		}
		if _, err := s.Latest(ctx, "t"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Latest = %v, want ErrCorrupt", err)
		}
	})
}
