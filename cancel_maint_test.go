package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// GC, Prune, Compact, Import, Export and BackupFile with contexts
// cancelled at random moments, beside Sync writers: each either finishes
// or returns an error, and the store stays whole: Verify clean, every
// checkpoint a writer was acknowledged that retention may not remove (the
// newest of each thread) reads back exact, a cancelled Import leaves no
// thread of its dump behind, a cancelled BackupFile no file.
func TestCancelledMaintenanceBesideWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A dump to import: 3 threads of 20 steps.
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for th := range 3 {
		for step := range 20 {
			if _, err := src.Save(ctx, fmt.Sprint("imp-", th), map[string]any{"step": step, "pad": fmt.Sprint(make([]byte, 200))}, ckpt.Metadata{"step": step}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	s, err := ckpt.Open(filepath.Join(dir, "store.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// A writer holds saving (shared) from its Save until it has recorded
	// the result, and the checks hold it exclusively: so the id they check
	// is each thread's newest, not one a Save just acknowledged past (which
	// retention with KeepLast 1 may rightly have deleted). mu guards newest.
	var saving sync.RWMutex
	var mu sync.Mutex
	newest := map[string]struct {
		id   string
		step int
	}{}
	// Each writer saves at most perRound times a round (the rounds refill
	// budget): unbounded writers grew the store, and with it each round's
	// Verify, without limit on a slow host under -race (CI once spent
	// minutes in the last Verify).
	const perRound = 20
	budget := [3]chan struct{}{}
	for w := range budget {
		budget[w] = make(chan struct{}, perRound)
	}
	for w := range 3 {
		wg.Go(func() {
			thread := fmt.Sprint("w", w)
			for step := 0; ; step++ {
				select {
				case <-stop:
					return
				case <-budget[w]:
				}
				saving.RLock()
				id, err := s.Save(ctx, thread, map[string]any{"step": step, "msgs": make([]int, step%50)}, ckpt.Metadata{"step": step})
				if err != nil {
					saving.RUnlock()
					t.Errorf("Save: %v", err)
					return
				}
				mu.Lock()
				newest[thread] = struct {
					id   string
					step int
				}{id, step}
				mu.Unlock()
				saving.RUnlock()
			}
		})
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	outcomes := map[string][2]int{}
	backups := map[string]bool{"src.db": true, "store.db": true, "store.db-wal": true}
	for round := range 60 {
		for _, b := range budget {
			for len(b) < cap(b) {
				b <- struct{}{}
			}
		}
		cctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(rng.IntN(3000)>>rng.IntN(5))*time.Microsecond, cancel) // short ones reach the fast ops
		op := []string{"gc", "prune", "compact", "import", "export", "backup"}[round%6]
		var err error
		bak := filepath.Join(dir, fmt.Sprint("b", round, ".db"))
		switch op {
		case "gc":
			_, err = s.GC(cctx, ckpt.Policy{KeepLast: 1 + rng.IntN(3)})
		case "prune":
			err = s.Prune(cctx, []string{fmt.Sprint("w", rng.IntN(3))}, ckpt.PruneKeepLatest)
		case "compact":
			_, err = s.Compact(cctx, nil)
		case "import":
			for th := range 3 {
				if err := s.DeleteThread(ctx, fmt.Sprint("imp-", th)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = s.Import(cctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{})
			n := 0
			for th := range 3 {
				for _, lerr := range s.List(ctx, ckpt.ListOptions{ThreadID: fmt.Sprint("imp-", th)}) {
					if lerr != nil {
						t.Fatal(lerr)
					}
					n++
				}
			}
			if err == nil && n != 60 || err != nil && n != 0 {
				t.Fatalf("import returned %v and left %d of 60 checkpoints", err, n)
			}
		case "export":
			_, err = s.Export(cctx, &bytes.Buffer{}, ckpt.ExportOptions{})
		case "backup":
			err = s.BackupFile(cctx, bak)
			if _, serr := os.Stat(bak); err != nil && serr == nil {
				t.Fatalf("a cancelled backup left %s", bak)
			}
			if err == nil {
				backups[filepath.Base(bak)] = true
			}
		}
		cancel()
		o := outcomes[op]
		if err == nil {
			o[0]++
		} else {
			o[1]++
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v", op, err)
			}
		}
		outcomes[op] = o
		rep, verr := s.Verify(ctx, ckpt.VerifyOptions{})
		if verr != nil || !rep.OK() {
			t.Fatalf("after %s (%v): Verify: %v %v", op, err, verr, rep.Problems)
		}
		saving.Lock()
		mu.Lock()
		for thread, n := range newest {
			snap, err := s.Load(ctx, thread, n.id)
			var step int64
			if err == nil {
				step, _ = snap.Metadata["step"].(int64)
			}
			if err != nil || int(step) != n.step {
				t.Fatalf("after %s: %s newest %s (step %d): %v, step %d", op, thread, n.id, n.step, err, step)
			}
		}
		mu.Unlock()
		saving.Unlock()
	}
	close(stop)
	wg.Wait()
	// Nothing else beside the store: no temporary file of a cancelled
	// backup, compaction or import.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !backups[e.Name()] {
			t.Errorf("left in the directory: %s", e.Name())
		}
	}
	t.Logf("finished / cancelled: %v", outcomes)
}
