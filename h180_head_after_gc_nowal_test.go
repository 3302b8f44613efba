package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// TestH180HeadAfterGCStepNoWAL: without the log, the commit loop runs a
// group's ops on one bbolt write transaction, so a Save or an IfHead Put
// queued after a GC of its thread reads the thread's head (headID) in
// the transaction whose GC step has just dropped the older checkpoints of
// the namespaces after the root one: every leaf of cp/ they filled is an
// empty node until the commit. headID's walk back from the end of the
// root namespace crossed them and found no head: the Save was
// acknowledged with no parent, an IfHead Put refused (ErrConflict) or let
// through against a head it could not see. In that transaction headID
// must still find the root namespace's newest checkpoint.
func TestH180HeadAfterGCStepNoWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(t.TempDir()+"/s.ckpt", Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Oldest first: many of "b" (leaves of cp/ of their own, dropped
	// first), a few of "a", then the root namespace's.
	var head Config
	for _, c := range []struct {
		ns string
		n  int
	}{{"b", 120}, {"a", 3}, {"", 3}} {
		for i := range c.n {
			vers := map[string]string{"x": fmt.Sprint(i)}
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: c.ns},
				Checkpoint{ChannelValues: map[string]any{"x": i}, ChannelVersions: vers}, nil, vers)
			if err != nil {
				t.Fatal(err)
			}
			head = cfg
		}
	}
	want, err := parseID("id", head.CheckpointID)
	if err != nil {
		t.Fatal(err)
	}
	var job *threadJob
	if err := s.view(ctx, func(r reader) error {
		var err error
		job, _, err = planPolicy(r, "t", Policy{KeepLast: 1}, time.Now(), 0)
		return err
	}); err != nil || job == nil {
		t.Fatalf("plan: %v (job %v)", err, job)
	}
	var got []byte
	var dropped int
	if err := s.write(ctx, func(w writer) error {
		// GC's drops, up to the root namespace's: the step of the group
		// before a Save's.
		j := *job
		j.drop = nil
		for _, ref := range job.drop {
			if ref.ns != "" {
				j.drop = append(j.drop, ref)
			}
		}
		dropped = len(j.drop)
		if _, _, _, err := j.step(w, newJobState(&j), 1_000_000); err != nil {
			return err
		}
		var err error
		got, err = headID(w, "t", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if dropped != 121 {
		t.Fatalf("the GC step dropped %d checkpoints, want 121", dropped)
	}
	if !bytes.Equal(got, want[:]) {
		t.Errorf("headID of the root namespace after a GC step in the same transaction = %x, want %x (%s)", got, want, head.CheckpointID)
	}
}
