package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestMetricsDisabled: with Options.DisableMetrics every counter and gauge
// stays zero through every kind of call (the hooks record nothing), while
// the same calls on a store with metrics count; logging still works.
func TestMetricsDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(disable bool, logs *logBuffer) Metrics {
		dir := t.TempDir()
		s, err := Open(filepath.Join(dir, "m.db"), Options{DisableMetrics: disable, Logger: logs.logger(), SlowFsync: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cfg, err := putValue(ctx, s, Config{ThreadID: "t"}, "x", "1", "a")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, cfg, []Write{{Channel: "w", Value: 1}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: "none"}); !errors.Is(err, ErrNotFound) && err != nil {
			t.Fatal(err)
		}
		_ = slices.Collect(func(yield func(*Tuple) bool) {
			for tup, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
				if err != nil || !yield(tup) {
					return
				}
			}
		})
		if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.BackupFile(ctx, filepath.Join(dir, "b.db")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteThread(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Metrics()
	}
	var onLogs, offLogs logBuffer
	on := run(false, &onLogs)
	if on.Ops[OpPut] != 1 || on.Ops[OpGet] != 2 || on.Fsyncs == 0 || on.Groups == 0 || on.BoltCommits == 0 || on.Backups != 1 {
		t.Fatalf("metrics on: %+v", on)
	}
	if off := run(true, &offLogs); off != (Metrics{}) {
		t.Fatalf("metrics off: %+v, want all zero", off)
	}
	// The logger does not depend on the metrics: slow fsyncs (every one,
	// at a threshold of 1 ns) and the backup are still logged.
	if len(offLogs.records(t, "ckpt: slow fsync")) == 0 || len(offLogs.records(t, "ckpt: backup")) != 1 {
		t.Fatalf("metrics off: the log lost records:\n%s", offLogs.buf.String())
	}
}
