package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// storedTally reads the tally of thread's checkpoint id (ns ""): ok false
// when there is none.
func storedTally(t *testing.T, s *Store, thread, id string) (writeTally, bool) {
	t.Helper()
	cid, err := parseID("id", id)
	if err != nil {
		t.Fatal(err)
	}
	var tally writeTally
	var ok bool
	err = s.view(context.Background(), func(r reader) error {
		key := orderKey(cid, "")
		b := r.Get(threadPath(thread, bucketOrder), key)
		if ok = len(b) > 0; ok {
			tally, err = decodeTally(seedOf(thread), key, b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tally, ok
}

// The tally follows every way PutWrites and PutFull store writes: a
// regular write already stored is kept (first wins, not counted again), a
// special one replaces (counted once), two writes to one key in one call
// count once, PutFull's writes count like PutWrites'. Retention takes a
// checkpoint's tally with it and CopyThread's copy carries its own: Verify
// finds nothing wrong at every step and every read agrees.
func TestWriteTallyFollowsEveryWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tally.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(step string, thread, id string, want int) {
		t.Helper()
		tp, err := s.GetTuple(ctx, Config{ThreadID: thread, CheckpointID: id})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		tally, ok := storedTally(t, s, thread, id)
		if len(tp.PendingWrites) != want || int(tally.n) != want || ok != (want > 0) {
			t.Fatalf("%s: %d pending writes, tally %d (stored %v), want %d", step, len(tp.PendingWrites), tally.n, ok, want)
		}
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("%s: Verify: %v %v", step, rep.Problems, err)
		}
	}
	id, err := s.Save(ctx, "t", map[string]any{"x": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ThreadID: "t", CheckpointID: id}
	check("no writes", "t", id, 0)
	put := func(task string, ws ...Write) {
		t.Helper()
		if err := s.PutWrites(ctx, cfg, ws, task, ""); err != nil {
			t.Fatal(err)
		}
	}
	put("a", Write{Channel: "x", Value: 2}, Write{Channel: "y", Value: 3})
	check("two writes", "t", id, 2)
	put("a", Write{Channel: "x", Value: 9}, Write{Channel: "y", Value: 9})
	check("the same regular writes again", "t", id, 2)
	put("a", Write{Channel: ChannelError, Value: "e1"})
	check("a special write", "t", id, 3)
	put("a", Write{Channel: ChannelError, Value: "e2"}, Write{Channel: ChannelError, Value: "e3"})
	check("the special write replaced twice in one call", "t", id, 3)
	put("b", Write{Channel: ChannelInterrupt, Value: "i"}, Write{Channel: "z", Value: 1})
	check("another task", "t", id, 5)

	// PutFull: a child with its writes in the same transaction.
	full, err := s.PutFull(ctx, Config{ThreadID: "t", CheckpointID: id},
		Checkpoint{ChannelValues: map[string]any{"x": 2}, ChannelVersions: map[string]string{"x": "2"}}, nil,
		map[string]string{"x": "2"}, []TaskWrites{{TaskID: "c", Writes: []Write{{Channel: "x", Value: 5}}}, {TaskID: "d", Writes: []Write{{Channel: "x", Value: 6}}}})
	if err != nil {
		t.Fatal(err)
	}
	check("PutFull", "t", full.CheckpointID, 2)

	if err := s.CopyThread(ctx, "t", "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	check("CopyThread, the copy", "copy", id, 5)
	check("CopyThread, the copy's head", "copy", full.CheckpointID, 2)

	if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := storedTally(t, s, "t", id); ok {
		t.Fatal("GC left the tally of the checkpoint it deleted")
	}
	check("GC, the kept head", "t", full.CheckpointID, 2)
}

// The tally is itself checked: a tally that is gone (its history entry
// emptied) while the writes are there, or a damaged one, is ErrCorrupt on a read and listed by Verify;
// a PutWrites onto a checkpoint whose tally is damaged fails and stores
// nothing (a tally built on a damaged one would vouch for the damage).
func TestWriteTallyGoneOrDamagedIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, damage := range []string{"emptied", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tally.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			ids := putChain(t, s, "t", "", 2)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cid, _ := parseID("id", ids[1])
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketOrder)
				k := orderKey(cid, "")
				if damage == "emptied" {
					return b.Put(k, nil)
				}
				v := bytes.Clone(b.Get(k))
				v[3] ^= 0x10
				return b.Put(k, v)
			})
			if s, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for name, err := range readsOfCheckpoint(t, s, "t", ids[1], true) {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s = %v, want ErrCorrupt", name, err)
				}
			}
			if tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids[0]}); err != nil || len(tp.PendingWrites) != 2 {
				t.Fatalf("the intact checkpoint: %v", err)
			}
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err != nil || rep.OK() {
				t.Fatalf("Verify: %v %v, want a problem", rep.Problems, err)
			}
			if damage == "flipped" {
				cfg := Config{ThreadID: "t", CheckpointID: ids[1]}
				if err := s.PutWrites(ctx, cfg, []Write{{Channel: "a", Value: 1}}, "new task", ""); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("PutWrites onto a damaged tally = %v, want ErrCorrupt", err)
				}
				n := 0
				_ = s.view(ctx, func(r reader) error {
					return r.Scan(threadPath("t", bucketWrites), checkpointKey("", cid), nil, false, func(_, _ []byte) error { n++; return nil })
				})
				if n != 2 {
					t.Fatalf("the failed PutWrites left %d writes, want the 2 before it", n)
				}
			}
		})
	}
}

// Writers of one checkpoint's pending writes share commit groups: each
// PutWrites reads the tally the one before it in the group left, so the
// tally counts every write once however they are grouped.
func TestWriteTallyUnderConcurrentPutWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tally.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Save(ctx, "t", map[string]any{"x": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ThreadID: "t", CheckpointID: id}
	const writers, tasks = 16, 8
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			var err error
			for i := range tasks {
				task := fmt.Sprintf("w%d-%d", w, i)
				// Each task twice: the second is kept out by first-wins.
				for range 2 {
					if e := s.PutWrites(ctx, cfg, []Write{{Channel: "x", Value: i}, {Channel: ChannelError, Value: "e"}}, task, ""); e != nil && err == nil {
						err = e
					}
				}
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tp, err := s.GetTuple(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * tasks * 2; len(tp.PendingWrites) != want {
		t.Fatalf("%d pending writes, want %d", len(tp.PendingWrites), want)
	}
	if tally, _ := storedTally(t, s, "t", id); int(tally.n) != writers*tasks*2 {
		t.Fatalf("tally %d, want %d", tally.n, writers*tasks*2)
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
}
