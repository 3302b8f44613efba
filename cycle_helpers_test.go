package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The steps the page-cycle tests (h229, h230, h231, h235, h237, h239)
// share: a read-only store over a cycle file, the threads a walk of it
// yields, the 150-thread store the damaged-id hunts damage, an exact read
// of one checkpoint, and the first error of a read's sequence.

// h229CycleStore opens, read-only, a file holding a page cycle confined
// to one thread's buckets (h229CycleFiles), or skips the test when no run
// left one; the test's end closes it.
func h229CycleStore(t *testing.T) *Store {
	t.Helper()
	files := h229CycleFiles(t, 1)
	if len(files) == 0 {
		t.Skip("no run left a page cycle")
	}
	ro, err := Open(files[0], Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	t.Cleanup(func() { _ = ro.Close() })
	return ro
}

// h230Threads walks ro.Threads: every thread it yields (all) and those it
// yields with an error (bad), each of which must be ErrCorrupt for a
// named thread.
func h230Threads(ctx context.Context, t *testing.T, ro *Store) (all, bad []string) {
	t.Helper()
	for info, err := range ro.Threads(ctx) {
		all = append(all, info.ThreadID)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || info.ThreadID == "" {
				t.Fatalf("Threads: %q: %v, want a thread's ErrCorrupt", info.ThreadID, err)
			}
			bad = append(bad, info.ThreadID)
		}
	}
	return all, bad
}

// h231ManyThreads calls save for the checkpoints of 150 threads th000 to
// th149, in order: one each, 120 for th000, th050 and th100 (their
// buckets' own buckets not inline, the threads bucket with a branch
// page). i counts the thread's checkpoints from 0; x is thread/i.
func h231ManyThreads(save func(th string, i int, x string)) {
	for k := range 150 {
		th := fmt.Sprintf("th%03d", k)
		n := 1
		if k%50 == 0 {
			n = 120
		}
		for i := range n {
			save(th, i, fmt.Sprint(th, "/", i))
		}
	}
}

// h231ManyThreadsFile writes h231ManyThreads' store without a log
// ({"x": thread/i}, metadata step i) at path: the file's bytes, the
// threads in order and each one's checkpoint ids in order. The store is
// built once per test binary (h231BuildManyThreads: about 500 commits,
// which nine tests each made, 2-3 s apiece under -race) and its bytes
// written at path; each caller gets its own copies of the three.
func h231ManyThreadsFile(t *testing.T, path string) (clean []byte, threads []string, want map[string][]string) {
	t.Helper()
	f := &h231Fixture
	f.once.Do(func() {
		f.clean, f.threads, f.want = h231BuildManyThreads(t, filepath.Join(t.TempDir(), "many.db"))
	})
	if f.clean == nil {
		t.Fatal("the shared h231 store was not built (the test that built it first says why)")
	}
	if err := os.WriteFile(path, f.clean, 0o600); err != nil {
		t.Fatal(err)
	}
	want = make(map[string][]string, len(f.want))
	for th, ids := range f.want {
		want[th] = slices.Clone(ids)
	}
	return bytes.Clone(f.clean), slices.Clone(f.threads), want
}

var h231Fixture struct {
	once    sync.Once
	clean   []byte
	threads []string
	want    map[string][]string
}

// h231BuildManyThreads builds h231ManyThreadsFile's store at path and
// closes it.
func h231BuildManyThreads(t *testing.T, path string) (clean []byte, threads []string, want map[string][]string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{}
	h231ManyThreads(func(th string, i int, x string) {
		if i == 0 {
			threads = append(threads, th)
		}
		id, err := s.Save(ctx, th, map[string]any{"x": x}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		want[th] = append(want[th], id)
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if clean, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return clean, threads, want
}

// h231LoadExact loads th's checkpoint id from ro and checks its x is want
// and, with upperMeta, that its metadata's x is want in capitals: an
// error, the read's or a wrong value's.
func h231LoadExact(ctx context.Context, ro *Store, th, id, want string, upperMeta bool) error {
	snap, err := ro.Load(ctx, th, id)
	if err != nil {
		return err
	}
	var x string
	if err := snap.Decode("x", &x); err != nil {
		return err
	}
	if upperMeta && (x != want || snap.Metadata["x"] != strings.ToUpper(want)) {
		return fmt.Errorf("x=%q metadata %v, want %q", x, snap.Metadata, want)
	}
	if x != want {
		return fmt.Errorf("x=%q, want %q", x, want)
	}
	return nil
}

// h229FirstErr reads seq to its end or its first error, which it returns.
func h229FirstErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}
