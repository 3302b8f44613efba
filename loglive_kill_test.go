package ckpt_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestKillThenOpenWithOrWithoutLog: a Sync writer killed at a random
// moment, CKPT_HUNT_ROUNDS times (20 by default; 5 kills to a file). With its log left in
// place the store always opens with every acknowledged checkpoint; the
// file copied elsewhere without its log either opens with every
// acknowledged checkpoint or is refused (ErrCorrupt naming ckpt recover),
// never opened with fewer. After `ckpt recover` (RecoverLog) the copy opens.
func TestKillThenOpenWithOrWithoutLog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var path string
	var all []ackedCheckpoint
	refused, opened, total := 0, 0, 0
	for round := range rounds {
		if round%5 == 0 {
			// A new file every 5 kills: the checks read every checkpoint
			// acknowledged in the file, whose states grow with the step.
			path = filepath.Join(t.TempDir(), "kill.db")
			all = nil
		}
		acked := crashRound(t, "sync", path, time.Duration(rng.IntN(120))*time.Millisecond)
		all = append(all, acked...)
		total += len(acked)
		// A copy, not a hard link: RecoverLog on a link would write the
		// killed store's own file.
		link := filepath.Join(t.TempDir(), "copy.db")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(link, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ckpt.Open(link, ckpt.Options{ReadOnly: true})
		switch {
		case err == nil:
			opened++
			for _, a := range all {
				if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: a.id}); err != nil {
					t.Fatalf("round %d: the file opened without its log, and acknowledged checkpoint %s of %s (step %d) is not there: %v",
						round, a.id, a.thread, a.step, err)
				}
			}
			_ = s.Close()
		case errors.Is(err, ckpt.ErrCorrupt) && strings.Contains(err.Error(), "ckpt recover"):
			refused++
			if _, err := ckpt.RecoverLog(link, ckpt.Options{}); err != nil {
				t.Fatalf("round %d: RecoverLog of the copy: %v", round, err)
			}
			s, err := ckpt.Open(link, ckpt.Options{})
			if err != nil {
				t.Fatalf("round %d: Open after RecoverLog: %v", round, err)
			}
			_ = s.Close()
		default:
			t.Fatalf("round %d: Open of the file without its log: %v", round, err)
		}
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
		verifyAfterCrash(t, path, all) // with the log in place: never refused
	}
	t.Logf("%d rounds, %d acknowledged checkpoints; without the log %d refused, %d opened whole", rounds, total, refused, opened)
}
