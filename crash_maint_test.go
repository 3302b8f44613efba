package ckpt_test

// Kill -9 while maintenance runs beside Sync writers: GC and Prune delete
// old checkpoints, Compact swaps the file, BackupFile copies it, ApplyLog
// moves the log into bbolt. The child (crashChild, mode "maint-...") runs
// crashThreads writer goroutines and one maintenance goroutine; the parent
// kills it at a random moment. After each kill: every acknowledged
// checkpoint that retention had no right to remove reads back exact, each
// thread is a gapless run of steps up to its newest, Verify is clean, and
// a Compact and a BackupFile of the reopened store work (nothing a dead
// run left behind breaks them).

import (
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

// maintain runs the maintenance of mode on s until the process is killed.
func maintain(s *ckpt.Store, mode, path string, fail func(error)) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	ops := map[string][]string{
		"maint-gc":  {"gc", "prune"},
		"maint-mix": {"gc", "prune", "compact", "backup", "applylog"},
		// hunt26_maint_kill_test.go: copies of threads beside their writers.
		"maint-copy": {"copy", "copy", "delcopy", "backup", "applylog", "compact"},
		// NoWAL: every commit, and the compaction's swap, straight in bbolt.
		"maint-nowal": {"gc", "prune", "compact", "backup"},
		// Rekey to the first of two keys (their order alternates by round).
		"maint-rekey-a": {"rekey", "rekey", "applylog", "compact"},
		"maint-rekey-b": {"rekey", "rekey", "applylog", "compact"},
	}[mode]
	if ops == nil {
		fail(fmt.Errorf("unknown mode %q", mode))
	}
	for {
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		var err error
		switch op := ops[rng.IntN(len(ops))]; op {
		case "gc":
			_, err = s.GC(ctx, ckpt.Policy{KeepLast: 1 + rng.IntN(4)})
		case "prune":
			err = s.Prune(ctx, []string{fmt.Sprintf("thread-%d", rng.IntN(crashThreads))}, ckpt.PruneKeepLatest)
		case "compact":
			_, err = s.Compact(ctx, nil)
		case "backup":
			err = s.BackupFile(ctx, path+".bak")
		case "applylog":
			err = s.ApplyLog(ctx)
		case "copy":
			th := rng.IntN(crashThreads)
			err = s.CopyThread(ctx, fmt.Sprintf("thread-%d", th), fmt.Sprintf("copy-%d", th), ckpt.CopyOptions{Replace: true})
			if errors.Is(err, ckpt.ErrNotFound) {
				err = nil // the thread has no checkpoint yet
			}
		case "rekey":
			_, err = s.Rekey(ctx)
		case "delcopy":
			err = s.DeleteThread(ctx, fmt.Sprintf("copy-%d", rng.IntN(crashThreads)))
		}
		if err != nil {
			fail(fmt.Errorf("maintenance: %w", err))
		}
	}
}

// verifyAfterMaintKill checks the store at path after a kill of a child
// that ran retention beside its writers.
func verifyAfterMaintKill(t *testing.T, path string, acked []ackedCheckpoint) {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	// What is stored: each thread a gapless run of whole steps, newest first.
	low, high := map[string]int{}, map[string]int{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		th, step := verifyTuple(t, tp)
		thread := fmt.Sprintf("thread-%d", th)
		if h, ok := high[thread]; !ok {
			high[thread] = step
		} else if step > h {
			t.Fatalf("%s: step %d listed after step %d", thread, step, h)
		}
		if l, ok := low[thread]; ok && step != l-1 {
			t.Fatalf("%s: step %d follows step %d: a gap", thread, step, l)
		}
		low[thread] = step
	}
	for _, a := range acked {
		h, ok := high[a.thread]
		if !ok || a.step > h {
			t.Fatalf("acknowledged checkpoint %s of %s (step %d) lost: the thread ends at step %d (stored: %v)", a.id, a.thread, a.step, h, ok)
		}
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: a.id})
		if a.step < low[a.thread] {
			// Retention removed it (it keeps the newest of a thread).
			if !errors.Is(err, ckpt.ErrNotFound) {
				t.Fatalf("checkpoint %s of %s (step %d) below the thread's oldest step %d: %v, want ErrNotFound", a.id, a.thread, a.step, low[a.thread], err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("acknowledged checkpoint %s of %s (step %d) lost: %v", a.id, a.thread, a.step, err)
		}
		if _, step := verifyTuple(t, tp); step != a.step {
			t.Fatalf("checkpoint %s has step %d, acknowledged as %d", a.id, step, a.step)
		}
		if a.writes && len(tp.PendingWrites) != 2 {
			t.Fatalf("acknowledged pending writes of %s lost", a.id)
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("Verify after kill: %v", rep.Problems)
	}
	// What a dead compaction or backup left beside the file must not stop
	// the next ones.
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatalf("Compact after kill: %v", err)
	}
	if err := s.BackupFile(ctx, path+".bak"); err != nil {
		t.Fatalf("BackupFile after kill: %v", err)
	}
	verifyBackup(t, path+".bak")
}

// verifyBackup checks that the copy at path is a whole store: it opens
// read-only, Verify is clean, every checkpoint whole.
func verifyBackup(t *testing.T, path string) {
	t.Helper()
	b, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer b.Close()
	rep, err := b.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify of the backup: %v %v", err, rep.Problems)
	}
	for tp, err := range b.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		verifyTuple(t, tp)
	}
}

func TestKillDuringMaintenanceBesideWriters(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := 20
	if raceEnabled {
		rounds = 8 // the package's -race run must stay inside go test's 10 minutes
	}
	if v := os.Getenv("CKPT_MAINT_ROUNDS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil {
			t.Fatalf("CKPT_MAINT_ROUNDS=%q: %v", v, err)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, mode := range []string{"maint-gc", "maint-mix"} {
		wg.Go(func() {
			t.Run(mode, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "crash.db")
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
				total := 0
				for range rounds {
					delay := time.Duration(30+rng.IntN(300)) * time.Millisecond
					acked := crashRound(t, mode, path, delay)
					total += len(acked)
					verifyAfterMaintKill(t, path, acked)
				}
				if total == 0 {
					t.Fatalf("the child acknowledged nothing in %d rounds", rounds)
				}
				t.Logf("%s: %d acknowledged checkpoints over %d kills", mode, total, rounds)
			})
		})
	}
}
