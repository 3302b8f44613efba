package ckpt_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestRestoredBackupBesideANewerLogIsRecoverable: a backup put back in the
// place of its store, whose crashed program left a -wal that went on past
// the backup (applied and started again from its first record since), is
// older than that log: the log starts at a group after the backup's last,
// and Open refuses it (ErrCorrupt, nothing replayable). `ckpt recover`
// (RecoverLog), the repair Open's error names, must then move the log
// aside so that the backup opens with what it holds; on main it failed
// with the same error as Open, leaving no way but deleting the log by
// hand (found by TestHuntKillDuringCopyThreadAndRestoreTheBackup).
func TestRestoredBackupBesideANewerLogIsRecoverable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "live.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	save := func(from, to int) {
		t.Helper()
		for step := from; step < to; step++ {
			if _, err := s.Save(ctx, "t", crashState(0, step), crashMeta(0, step)); err != nil {
				t.Fatal(err)
			}
		}
	}
	save(0, 5)
	bak := filepath.Join(dir, "backup.db")
	if err := s.BackupFile(ctx, bak); err != nil {
		t.Fatal(err)
	}
	save(5, 10)
	if err := s.ApplyLog(ctx); err != nil { // bbolt holds it all: the log starts again
		t.Fatal(err)
	}
	save(10, 13)
	// The log as a crash would leave it (a clean Close removes it).
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(dir, "restored.db")
	copyFile(t, bak, restored)
	if err := os.WriteFile(restored+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ckpt.Open(restored, ckpt.Options{}); !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(err.Error(), "ckpt recover") {
		t.Fatalf("Open of a backup beside a log that starts after it: %v, want ErrCorrupt naming ckpt recover", err)
	} else {
		t.Log(err)
	}
	st, err := ckpt.RecoverLog(restored, ckpt.Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.Damaged || st.KeptGroups != 0 || st.MovedTo == "" {
		t.Fatalf("RecoverLog: %+v, want the log moved aside with no group kept", st)
	}
	r, err := ckpt.Open(restored, ckpt.Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	defer r.Close()
	n := 0
	for tp, err := range r.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		as := *tp // verifyTuple knows the state by its thread's name
		as.Config.ThreadID = "thread-0"
		if _, step := verifyTuple(t, &as); step != 4-n {
			t.Fatalf("restored backup: step %d listed at position %d", step, n)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("restored backup holds %d checkpoints, the backup 5", n)
	}
	rep, err := r.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify of the restored backup: %v %v", err, rep.Problems)
	}
}
