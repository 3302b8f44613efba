//go:build linux

package powerfs

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// compactDirScenarios: a Sync write, Compact, a Sync write, Close, with
// the log and without. A failed fsync of the directory after Compact's
// rename leaves the rename in doubt (the old file may come back at a power
// cut, whatever later fsyncs of the directory do: record.go); the store
// fails, and the second process (fault_test.go's reopenLive) opens the
// new file on the live file system and writes on.
var compactDirScenarios = []faultScenario{
	{name: "compact-dir-wal", steps: compactDirSteps},
	{name: "compact-dir-nowal", opts: ckpt.Options{NoWAL: true}, steps: compactDirSteps},
}

func compactDirSteps(l *life) {
	l.trySave("a", ckpt.Sync, 10)
	l.tryDo("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	l.trySave("b", ckpt.Sync, 10)
	l.tryClose()
}

// TestPowerFaultCompactDirFsync: every fsync of the directory in turn
// fails, the one after Compact's rename among them. The second process's
// writes, acknowledged durable, must be in every power-cut image after
// them: a store reopened on the live file system wrote them into the
// compacted file, which only the failed fsync's rename named s.db, and a
// power cut could bring back the old file without them (with the log, the
// old file beside a log bound to the new one: Open refused it).
func TestPowerFaultCompactDirFsync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	kinds := []Fault{{Call: CallFsync, Target: TargetDir, Errno: syscall.EIO}}
	for i, sc := range compactDirScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sweep(t, sc, kinds, uint64(20+i), true)
		})
	}
}
