package ckpt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestH201DryRunCountsPendingSweeps: a GC stopped between deleting
// checkpoints and sweeping their values (a crash, a cancelled context)
// leaves a sweep pending, which the next GC carries out first. A dry run
// of that GC must say so: 'ckpt gc' counts on a dry run first and opens
// the file for writing only if it selects something, so a dry run that
// left the pending sweep out made 'ckpt gc' (after "run gc again to
// finish") report nothing deleted and leave the values there.
func TestH201DryRunCountsPendingSweeps(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	fillThread(t, s, "t", 20, 0)
	var job *threadJob
	if err := s.view(ctx, func(r reader) (err error) {
		job, _, err = planPolicy(r, "t", Policy{KeepLast: 2}, time.Now(), 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// 18 checkpoints x 4 keys + the sweep mark: exactly the drop phase.
	budget := 18*4 + 1
	if err := s.write(ctx, func(w writer) error {
		st, _, _, err := job.step(w, newJobState(job), budget)
		if err == nil && st.phase != phaseSweep {
			return fmt.Errorf("after the drop phase: phase %d", st.phase)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if PendingSweeps(s) != 1 {
		t.Fatalf("%d sweeps pending, want 1", PendingSweeps(s))
	}
	for _, p := range []Policy{{KeepLast: 2}, {KeepLast: 1}} {
		dry := p
		dry.DryRun = true
		want, err := s.GC(ctx, dry)
		if err != nil {
			t.Fatal(err)
		}
		if want.Blobs < 18 {
			t.Fatalf("dry run of %+v with a sweep of 18 values pending: %+v, the sweep left out", p, want)
		}
		if p.KeepLast == 1 {
			got, err := s.GC(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("GC %+v removed %+v; its dry run said %+v", p, got, want)
			}
		}
	}
	if n := PendingSweeps(s); n != 0 {
		t.Fatalf("%d sweeps still pending", n)
	}
}
