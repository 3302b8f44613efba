package ckpt

// A failed fsync or bbolt commit at each call, one per round, in the sixth
// session's new paths as a store uses them in turn: the log's growth (its
// fdatasync, in the commit loop, every 4 KiB here), the syncer's fsyncs,
// the commits around BackupFile (the applier paused for its copy), the
// applier's commits, and Close's last commit (the mark cleared). After
// each round, reopened: every acknowledged write reads back, none that
// failed is there, Verify is clean, and a backup that returned nil opens
// alone, whole.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

var errInjected = errors.New("injected fault")

// sweepScenario runs the round's calls on a store whose k-th fault point
// (kind "fsync": the log's fsync; "commit": a bbolt commit of the commit
// loop, the applier or the live mark) fails (k = 0: none), and returns how
// many such calls it made.
func sweepScenario(t *testing.T, dir, kind string, k int64) int64 {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "s.db")
	bak := filepath.Join(dir, "s.bak")
	var calls atomic.Int64
	fault := func() bool { return calls.Add(1) == k }
	hooks := engine.Hooks{LogGrow: 4096}
	switch kind {
	case "fsync":
		hooks.SyncLog = func(f *os.File) error {
			if fault() {
				return errInjected
			}
			return engine.Fdatasync(f)
		}
	case "commit":
		hooks.CommitBolt = func(tx *bolt.Tx) error {
			if fault() {
				_ = tx.Rollback()
				return errInjected
			}
			return tx.Commit()
		}
	}
	s, err := Open(path, Options{tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatalf("%s %d: open: %v", kind, k, err)
	}
	o := &saveOutcomes{ok: map[string]bool{}, failed: map[string]bool{}}
	n := 0
	save := func(d Durability, count int) {
		var async []string
		for range count {
			tag := fmt.Sprintf("%s-%d", d, n)
			n++
			// Values past a page, so the log grows every few groups.
			_, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: d}), "w0",
				map[string]any{"n": n, "pad": make([]byte, 3000+n)}, Metadata{"tag": tag})
			if d == Async && err == nil {
				async = append(async, tag)
				continue
			}
			o.note(tag, err)
		}
		if d == Async && s.Flush(ctx) == nil {
			for _, tag := range async {
				o.note(tag, nil) // a nil Flush vouches for them
			}
		}
	}
	save(Sync, 4)
	save(NoSync, 3)
	save(Async, 3)
	backupErr := s.BackupFile(ctx, bak)
	inBackup := map[string]bool{}
	for tag := range o.ok {
		inBackup[tag] = true
	}
	save(Sync, 3)
	_ = s.ApplyLog(ctx)
	save(NoSync, 2)
	save(Sync, 2)
	closeErr := s.Close()
	if k == 0 && (backupErr != nil || closeErr != nil || len(o.failed) != 0) {
		t.Fatalf("no fault: backup %v, close %v, %d saves failed", backupErr, closeErr, len(o.failed))
	}
	what := fmt.Sprintf("%s fault at call %d (backup: %v; close: %v)", kind, k, backupErr, closeErr)
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("%s: reopen: %v", what, err)
	}
	o.check(t, r, 1, what)
	if rep, err := r.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep.Problems, err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("%s: close after reopen: %v", what, err)
	}
	_, statErr := os.Stat(bak)
	switch {
	case backupErr != nil && statErr == nil:
		t.Errorf("%s: BackupFile failed and left a file", what)
	case backupErr == nil:
		// The backup alone (no log beside it) is a store whole.
		b, err := Open(bak, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: the backup alone: %v", what, err)
		}
		bo := &saveOutcomes{ok: inBackup, failed: map[string]bool{}}
		bo.check(t, b, 1, what+": the backup")
		if rep, err := b.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("%s: Verify of the backup: %+v, %v", what, rep.Problems, err)
		}
		_ = b.Close()
	}
	return calls.Load()
}

// TestFaultAtEachFsyncAndCommit sweeps the fault over every call of the
// round (the count of a round without faults, plus one).
func TestFaultAtEachFsyncAndCommit(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"fsync", "commit"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			total := sweepScenario(t, t.TempDir(), kind, 0)
			for k := int64(1); k <= total; k++ {
				sweepScenario(t, t.TempDir(), kind, k)
			}
			t.Logf("%s: %d calls swept", kind, total)
		})
	}
}
