package ckpt

import (
	"context"
	"path/filepath"
	"testing"
)

// TestPowerCutAfterNoSyncGroupsApplied: NoSync groups are never fsync'd in
// the log, yet bbolt takes them (ApplyLog here; the background applier
// alike), fsync'd in its own file. A power cut then leaves bbolt's mark
// above the last group the log holds durably: bbolt holds every group,
// and the log's records end below its mark. That is what a power cut
// leaves with no damage, so Open must take it, with every write (the
// NoSync ones too: ApplyLog returned nil). Found by the h33 power-cut hunt
// (h33_powercut_test.go).
func TestPowerCutAfterNoSyncGroupsApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	fl, tune := newFsyncedLog()
	s, err := Open(path, Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]int{}
	save := func(d Durability, n int) {
		id, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: d}), "t", map[string]any{"n": n}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = n
	}
	save(Sync, 1)
	save(NoSync, 2)
	save(NoSync, 3)
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	// The power cut: bbolt's file as ApplyLog left it (fsync'd), the log
	// as its last fsync began.
	cut := filepath.Join(dir, "cut.db")
	fl.cut(t, path, cut)
	c, err := Open(cut, Options{})
	if err != nil {
		t.Fatalf("a power cut after ApplyLog of NoSync groups: Open: %v", err)
	}
	defer c.Close()
	for id, n := range want {
		snap, err := c.Load(ctx, "t", id)
		if err != nil {
			t.Errorf("checkpoint %d (%s): %v", n, id, err)
			continue
		}
		var got int
		if err := snap.Decode("n", &got); err != nil || got != n {
			t.Errorf("checkpoint %s: n = %d (%v), want %d", id, got, err, n)
		}
	}
	if rep, err := c.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify: %v %+v", err, rep)
	}
}
