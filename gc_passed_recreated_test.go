package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestRetentionPassedCheckpointWrittenAgainIsNotDamage: a retention step
// that finds no record of a planned checkpoint passes it over as already
// gone, and checkPassed then looks for it in the history order, where
// only a damaged key could still name it... or a writer that put the
// same id back since: CopyThread into the thread from a copy of it (ids
// are kept), after a DeleteThread or a retention run took it. On
// cd17645 that was ErrCorrupt on a sound store ("retention cannot find
// the records of 1 checkpoints its history order names"), seen once in
// TestH193NoFalseRefusalOnSoundStores (seed 16, NoWAL, DeleteForRuns
// racing CopyThread and DeleteThread). A checkpoint the order names whose
// record the lookup does find was written since: no damage. One whose
// record it does not find still is.
func TestRetentionPassedCheckpointWrittenAgainIsNotDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range bothLogModes {
		t.Run(mode.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "s.db"), mode.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			id, err := s.Save(ctx, "b", map[string]any{"x": 1}, Metadata{"run_id": "run1"})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := parseID("checkpoint", id)
			if err != nil {
				t.Fatal(err)
			}
			// The step passed it over (a writer had deleted it), and
			// the same id was put back before the check.
			job := &threadJob{thread: "b", passed: []cpRef{{ns: "", id: raw}}}
			if err := s.view(ctx, job.checkPassed); err != nil {
				t.Errorf("checkPassed of a checkpoint written again since the step: %v, want nil (the store is sound)", err)
			}
			// Its order entry without its record is what damage leaves:
			// still reported.
			if err := s.write(ctx, func(w writer) error {
				return w.Del(threadPath("b", bucketCheckpoints), checkpointKey("", raw))
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.view(ctx, job.checkPassed); !errors.Is(err, ErrCorrupt) {
				t.Errorf("checkPassed with the order naming a checkpoint whose record is gone: %v, want ErrCorrupt", err)
			}
		})
	}
}
