package ckpt_test

// The two defects the h118 hunt found, each as its own test, and Close
// in the middle of every maintenance operation.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestH118VerifyBesideImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := src.Save(ctx, "big", map[string]any{"i": i, "s": fmt.Sprint("step ", i)}, ckpt.Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, noWAL := range []bool{false, true} {
		t.Run(fmt.Sprint("nowal=", noWAL), func(t *testing.T) {
			s, err := ckpt.Open(filepath.Join(dir, fmt.Sprint("dst", noWAL, ".db")), ckpt.Options{NoWAL: noWAL})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Save(ctx, "own", map[string]any{"a": 1}, nil); err != nil {
				t.Fatal(err)
			}
			batches := 0
			var problems []ckpt.Problem
			_, err = s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{Progress: func(int64) {
				batches++
				rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
				if err != nil {
					t.Errorf("Verify between batches: %v", err)
					return
				}
				problems = append(problems, rep.Problems...)
			}})
			if err != nil {
				t.Fatal(err)
			}
			if batches < 2 {
				t.Fatalf("%d batches: the dump must take more than one", batches)
			}
			if len(problems) > 0 {
				t.Errorf("Verify of a live store between an import's batches: %v", problems)
			}
			rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("Verify after the import: %v %v", err, rep.Problems)
			}
		})
	}
}

// TestH118RetentionAfterAsyncWrites: Prune, DeleteForRuns and GC act on
// every write queued before them, Async ones included, as DeleteThread
// and CopyThread (which run in the commit loop) do: a caller that saves
// asynchronously and then deletes a thread, a run or the old checkpoints
// must not find, after a Flush, the checkpoints it queued first. They
// plan on a snapshot, which holds an Async write only once its group is
// logged; so they missed the writes still queued (found by
// TestH118ConcurrentModel, mode async, seed 5019: a Save after
// Prune(PruneDelete) got the deleted thread's checkpoint as its parent).
func TestH118RetentionAfterAsyncWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "async.db"), ckpt.Options{Durability: ckpt.Async})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func(thread string) int {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	for i := range 5 {
		for _, c := range []struct {
			name string
			op   func(thread, run string) error
			want int // checkpoints left in the thread
		}{
			{"PruneDelete", func(th, _ string) error { return s.Prune(ctx, []string{th}, ckpt.PruneDelete) }, 0},
			{"PruneKeepLatest", func(th, _ string) error { return s.Prune(ctx, []string{th}, ckpt.PruneKeepLatest) }, 1},
			{"DeleteForRuns", func(_, run string) error { return s.DeleteForRuns(ctx, []string{run}) }, 0},
			{"GC", func(string, string) error { _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1}); return err }, 1},
		} {
			th := fmt.Sprintf("%s-%d", c.name, i)
			run := "run-" + th
			for j := range 3 {
				if _, err := s.Save(ctx, th, map[string]any{"j": j}, ckpt.Metadata{"run_id": run}); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.op(th, run); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(th); n != c.want {
				t.Errorf("%s after 3 Async Saves, round %d: %d checkpoints left, want %d", c.name, i, n, c.want)
			}
		}
	}
}

// TestH118CloseDuringMaintenance: Close while Rekey, Import, Compact,
// BackupFile, Backup, Export, GC and Verify run on a store large enough
// that they are in the middle of their work: each returns nil or
// ErrClosed (never another error, a panic or a hang), Close returns, and
// after a reopen Verify is clean, every checkpoint written before reads
// back exact, and the Import is all or nothing. CKPT_H118_CLOSE_ROUNDS
// for more rounds (default 2).
func TestH118CloseDuringMaintenance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	const threads, steps = 6, 60
	pad := strings.Repeat("p", 3000)
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for th := range 3 {
		for i := range steps {
			if _, err := src.Save(ctx, fmt.Sprint("imp-", th), map[string]any{"i": i, "pad": pad}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	rounds := h118EnvInt("CKPT_H118_CLOSE_ROUNDS", 2)
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 118))
		path := filepath.Join(dir, fmt.Sprintf("c%d.db", round))
		k1 := ckpt.Options{Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(1)}}}
		s, err := ckpt.Open(path, k1)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{} // thread/id -> i
		for th := range threads {
			for i := range steps {
				name := fmt.Sprint("t", th)
				id, err := s.Save(ctx, name, map[string]any{"i": i, "pad": pad + name}, ckpt.Metadata{"i": i})
				if err != nil {
					t.Fatal(err)
				}
				want[name+"/"+id] = i
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		opts := ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}
		if s, err = ckpt.Open(path, opts); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		var importErr error
		ops := map[string]func(context.Context) error{
			"Rekey": func(ctx context.Context) error { _, err := s.Rekey(ctx); return err },
			"Import": func(ctx context.Context) error {
				_, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{})
				importErr = err
				return err
			},
			"Compact": func(ctx context.Context) error { _, err := s.Compact(ctx, nil); return err },
			"BackupFile": func(ctx context.Context) error {
				return s.BackupFile(ctx, filepath.Join(dir, fmt.Sprintf("b%d.db", round)))
			},
			"Backup": func(ctx context.Context) error { return s.Backup(ctx, io.Discard) },
			"Export": func(ctx context.Context) error { _, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{}); return err },
			"GC":     func(ctx context.Context) error { _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1000}); return err },
			"Verify": func(ctx context.Context) error { _, err := s.Verify(ctx, ckpt.VerifyOptions{}); return err },
		}
		for name, op := range ops {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, h118CallLimit)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- op(ctx) }()
				select {
				case err := <-done:
					if err != nil && !errors.Is(err, ckpt.ErrClosed) {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s: %v", name, err))
						mu.Unlock()
					}
				case <-time.After(h118HangLimit):
					buf := make([]byte, 8<<20)
					panic(fmt.Sprintf("%s hangs beside Close:\n%s", name, buf[:runtime.Stack(buf, true)]))
				}
			})
		}
		time.Sleep(time.Duration(r.IntN(150)) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("round %d: Close: %v", round, err)
			}
		case <-time.After(h118HangLimit):
			buf := make([]byte, 8<<20)
			panic(fmt.Sprintf("Close hangs:\n%s", buf[:runtime.Stack(buf, true)]))
		}
		wg.Wait()
		for _, b := range bad {
			t.Errorf("round %d: %s", round, b)
		}
		if s, err = ckpt.Open(path, opts); err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("round %d: Verify: %v %v", round, err, rep)
		}
		n := 0
		imported := map[string]int{}
		for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatalf("round %d: List: %v", round, err)
			}
			th := tup.Config.ThreadID
			if strings.HasPrefix(th, "imp-") {
				imported[th]++
				continue
			}
			var i int
			var p string
			if err := tup.Decode("i", &i); err != nil {
				t.Fatal(err)
			}
			if err := tup.Decode("pad", &p); err != nil || p != pad+th {
				t.Errorf("round %d: %s/%s pad %.20q (%v)", round, th, tup.Config.CheckpointID, p, err)
			}
			if w, ok := want[th+"/"+tup.Config.CheckpointID]; !ok || w != i {
				t.Errorf("round %d: %s/%s reads %d, want %d (%v)", round, th, tup.Config.CheckpointID, i, w, ok)
			}
			n++
		}
		if n != len(want) {
			t.Errorf("round %d: %d checkpoints, want %d", round, n, len(want))
		}
		all := len(imported) == 3 && imported["imp-0"] == steps && imported["imp-1"] == steps && imported["imp-2"] == steps
		if !(len(imported) == 0 || all) || (importErr == nil && !all) {
			t.Errorf("round %d: Import (err %v) left %v: all or nothing", round, importErr, imported)
		}
		s.Close()
		t.Logf("round %d: %d checkpoints exact, import %v (%v)", round, n, all, importErr)
	}
}
