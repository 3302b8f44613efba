package ckpt_test

// Kill -9 while CopyThread and DeleteThread copy and drop threads beside
// Sync writers, with BackupFile, ApplyLog and Compact in between (mode
// "maint-copy" of crashChild, crash_maint_test.go), then a restore from
// the backup the dead run left (h26-hunt). After each kill: every
// acknowledged checkpoint reads back exactly, each copy is a whole copy of
// its source at some moment (the same ids, the same steps, gapless), and
// Verify is clean. The backup, put back in the store's place with or
// without the -wal the killed run left there, opens (or is refused with
// ErrCorrupt and then RecoverLog repairs it) into the same kind of store.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// huntCheckCopies checks the store s: the writers' threads are gapless
// runs of whole steps from 0 and hold every acknowledged checkpoint; each
// copy-K is a gapless run of whole steps of thread-K from 0, with its
// ids, each of which thread-K still holds (nothing prunes it).
func huntCheckCopies(t *testing.T, what string, s *ckpt.Store, acked []ackedCheckpoint) {
	t.Helper()
	steps := map[string][]int{}
	ids := map[string]map[int]string{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatalf("%s: List: %v", what, err)
		}
		thread := tp.Config.ThreadID
		var th int
		if _, err := fmt.Sscanf(thread, "copy-%d", &th); err == nil {
			as := *tp
			as.Config.ThreadID = "thread-" + strconv.Itoa(th)
			if got, _ := verifyTuple(t, &as); got != th {
				t.Fatalf("%s: %s holds a checkpoint of thread %d", what, thread, got)
			}
		} else {
			verifyTuple(t, tp)
		}
		step := int(tp.Metadata["step"].(int64))
		steps[thread] = append(steps[thread], step)
		if ids[thread] == nil {
			ids[thread] = map[int]string{}
		}
		ids[thread][step] = tp.Config.CheckpointID
	}
	for thread, st := range steps {
		for i, step := range st { // newest first
			if step != len(st)-1-i {
				t.Fatalf("%s: %s has steps %v", what, thread, st)
			}
		}
		var th int
		if _, err := fmt.Sscanf(thread, "copy-%d", &th); err == nil {
			src := ids["thread-"+strconv.Itoa(th)]
			for step, id := range ids[thread] {
				if src[step] != id {
					t.Fatalf("%s: %s step %d is %s, its source's is %q", what, thread, step, id, src[step])
				}
			}
		}
	}
	for _, a := range acked {
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: a.id})
		if err != nil {
			t.Fatalf("%s: acknowledged checkpoint %s of %s (step %d): %v", what, a.id, a.thread, a.step, err)
		}
		if _, step := verifyTuple(t, tp); step != a.step {
			t.Fatalf("%s: checkpoint %s has step %d, acknowledged as %d", what, a.id, step, a.step)
		}
		if a.writes && len(tp.PendingWrites) != 2 {
			t.Fatalf("%s: acknowledged pending writes of %s lost", what, a.id)
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("%s: Verify: %v %v", what, err, rep.Problems)
	}
}

// huntRestore puts the backup at bak in the place of a store in dir, with
// the log at wal beside it ("" for none), opens it and checks it. It
// reports whether Open refused it (ErrCorrupt) before RecoverLog.
func huntRestore(t *testing.T, what, bak, wal, dir string) bool {
	t.Helper()
	path := filepath.Join(dir, "restored.db")
	copyFile(t, bak, path)
	_ = os.Remove(path + "-wal")
	if wal != "" {
		copyFile(t, wal, path+"-wal")
	}
	refused := false
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		if !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("%s: open the restored backup: %v", what, err)
		}
		refused = true
		if _, err := ckpt.RecoverLog(path, ckpt.Options{}); err != nil {
			t.Fatalf("%s: RecoverLog of the restored backup Open refused: %v", what, err)
		}
		if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
			t.Fatalf("%s: open the restored backup after RecoverLog: %v", what, err)
		}
	}
	defer s.Close()
	huntCheckCopies(t, what, s, nil)
	return refused
}

func TestHuntKillDuringCopyThreadAndRestoreTheBackup(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := huntRounds(4, 2) // each about 1-5 s (the store grows round by round); CKPT_HUNT_ROUNDS=25 for a hunt
	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 26))
	total, restored, refused := 0, 0, 0
	for round := range rounds {
		acked := crashRound(t, "maint-copy", path, time.Duration(30+rng.IntN(300))*time.Millisecond)
		total += len(acked)
		// The backup and log as the killed run left them, before a reopen
		// changes the log.
		bak := filepath.Join(dir, fmt.Sprintf("round%d.bak", round))
		wal := filepath.Join(dir, fmt.Sprintf("round%d.wal", round))
		haveBak := false
		if _, err := os.Stat(path + ".bak"); err == nil {
			copyFile(t, path+".bak", bak)
			haveBak = true
		}
		haveWal := false
		if _, err := os.Stat(path + "-wal"); err == nil {
			copyFile(t, path+"-wal", wal)
			haveWal = true
		}
		s, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		huntCheckCopies(t, fmt.Sprintf("round %d", round), s, acked)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !haveBak {
			continue
		}
		restored++
		rdir := t.TempDir()
		if huntRestore(t, fmt.Sprintf("round %d, the backup alone", round), bak, "", rdir) {
			t.Fatalf("round %d: the backup alone is refused", round)
		}
		if haveWal && huntRestore(t, fmt.Sprintf("round %d, the backup beside the killed run's log", round), bak, wal, rdir) {
			refused++
		}
	}
	if total == 0 {
		t.Fatalf("the child acknowledged nothing in %d rounds", rounds)
	}
	t.Logf("%d acknowledged checkpoints over %d kills; %d backups restored, %d of them refused beside the killed run's log until RecoverLog", total, rounds, restored, refused)
}

// huntRekeyKeys is the encryption of mode maint-rekey-a (keys 1 and 2, so
// Rekey seals under 1) or maint-rekey-b (2 and 1).
func huntRekeyKeys(mode string) *ckpt.Encryption {
	if mode == "maint-rekey-a" {
		return &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(1), rekeyKey(2)}}
	}
	return &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2), rekeyKey(1)}}
}

// TestHuntKillDuringRekeyBesideWriters: Rekey, over and over, beside Sync
// writers that seal under the same key, killed at random moments; the
// next round's child seals and rekeys under the other key. After each
// kill the store opens with both keys, every acknowledged checkpoint
// reads back exactly and Verify is clean. (TestRekeyKill9 kills a Rekey
// running alone.)
func TestHuntKillDuringRekeyBesideWriters(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := huntRounds(6, 3)
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 27))
	total := 0
	for round := range rounds {
		mode := []string{"maint-rekey-a", "maint-rekey-b"}[round%2]
		acked := crashRound(t, mode, path, time.Duration(30+rng.IntN(300))*time.Millisecond)
		total += len(acked)
		s, err := ckpt.Open(path, ckpt.Options{Encryption: huntRekeyKeys(mode)})
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		huntCheckCopies(t, fmt.Sprintf("round %d (%s)", round, mode), s, acked)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatalf("the child acknowledged nothing in %d rounds", rounds)
	}
	t.Logf("%d acknowledged checkpoints over %d kills", total, rounds)
}

// TestHuntKillDuringMaintenanceWithNoWAL: GC, Prune, Compact and
// BackupFile beside Sync writers of a NoWAL store (each commit straight
// in bbolt, no log to replay), killed at random moments: the checks of
// TestKillDuringMaintenanceBesideWriters (which runs with the log).
func TestHuntKillDuringMaintenanceWithNoWAL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := huntRounds(6, 3)
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 28))
	total := 0
	for range rounds {
		acked := crashRound(t, "maint-nowal", path, time.Duration(30+rng.IntN(300))*time.Millisecond)
		total += len(acked)
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Fatal("a NoWAL store left a -wal")
		}
		verifyAfterMaintKill(t, path, acked)
	}
	if total == 0 {
		t.Fatalf("the child acknowledged nothing in %d rounds", rounds)
	}
	t.Logf("%d acknowledged checkpoints over %d kills", total, rounds)
}

// huntRounds is a kill test's round count: def, or race under the race
// detector (slower children), or CKPT_HUNT_ROUNDS for a longer hunt.
func huntRounds(def, race int) int {
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		return v
	}
	if raceEnabled {
		return race
	}
	return def
}
