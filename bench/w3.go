package main

// W3 "retention" (WORKLOAD.md): W1 at T=1,000, S=100 (100,000 checkpoints),
// then prune to the latest 5 checkpoints per thread and reclaim space;
// report the prune time and the file size before, after prune and after
// compaction. The peer has no prune; with --peer its W3 load figures could
// be added here. bench/w3 is the same workload as a standalone command
// with more detail (pages in use, a concurrent writer's latency).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w3Keep is how many checkpoints per thread the prune keeps.
const w3Keep = 5

// w3Result is what W3 reports.
type w3Result struct {
	loadStepsPerS       float64 // the W1 load (NoSync: the content does not depend on fsync)
	pruneSeconds        float64 // GC KeepLast=5, fsync'd transactions
	compactSeconds      float64
	bytesBefore         float64 // file size after the load
	bytesAfterPrune     float64
	bytesAfterCompact   float64
	checkpointsAfter    int // must be T*5
	checkpointsExpected int
	backup              *w3BackupResult // a hot backup before the prune (w3backup.go)
	backupWriters       int
	loadCheckpoints     int // checkpoints the load wrote (the backup holds at least these)
}

// runW3 runs W3 on ckpt in dir.
func runW3(ctx context.Context, cfg config, dir string, logf func(string, ...any)) (*w3Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "w3.db")
	in := buildW1Input(cfg.w3T, cfg.w3S, cfg.P, cfg.C, 1)
	logf("W3: loading %d threads x %d steps (NoSync)", cfg.w3T, cfg.w3S)
	load, _, err := w1Load(ctx, path, in, ckpt.NoSync, putThenWrites, 1, false)
	if err != nil {
		return nil, fmt.Errorf("W3 load: %w", err)
	}
	r := &w3Result{loadStepsPerS: load.stepsPerS, bytesBefore: float64(load.fileBytes), checkpointsExpected: cfg.w3T * min(cfg.w3S, w3Keep)}
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r.loadCheckpoints, r.backupWriters = cfg.w3T*cfg.w3S, cfg.writers
	if r.backup, err = w3BackupFigure(ctx, st, in, dir, cfg.writers, logf); err != nil {
		return nil, err
	}
	if r.backup.checkpoints < r.loadCheckpoints {
		return nil, fmt.Errorf("W3 backup: the copy holds %d checkpoints, the load wrote %d", r.backup.checkpoints, r.loadCheckpoints)
	}
	logf("W3: pruning to the latest %d per thread", w3Keep)
	t0 := time.Now()
	if _, err := st.GC(ctx, ckpt.Policy{KeepLast: w3Keep}); err != nil {
		return nil, fmt.Errorf("W3 prune: %w", err)
	}
	r.pruneSeconds = time.Since(t0).Seconds()
	if err := st.ApplyLog(ctx); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil {
		r.bytesAfterPrune = float64(fi.Size())
	}
	logf("W3: compacting")
	t0 = time.Now()
	cs, err := st.Compact(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("W3 compact: %w", err)
	}
	r.compactSeconds = time.Since(t0).Seconds()
	r.bytesAfterCompact = float64(cs.BytesAfter)
	for _, err := range st.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			return nil, err
		}
		r.checkpointsAfter++
	}
	return r, nil
}

// w3Rows lays out the W3 figures.
func w3Rows(r *w3Result) []row {
	rows := []row{
		{"W3 load steps/s, 1 writer, NoSync", "steps/s", true, r.loadStepsPerS, nan, nan},
		{"prune to the latest 5 per thread", "s", false, r.pruneSeconds, nan, nan},
		{"compaction", "s", false, r.compactSeconds, nan, nan},
		{"file size before prune", "bytes", false, r.bytesBefore, nan, nan},
		{"file size after prune", "bytes", false, r.bytesAfterPrune, nan, nan},
		{"file size after compaction", "bytes", false, r.bytesAfterCompact, nan, nan},
		{fmt.Sprintf("checkpoints left (want %d)", r.checkpointsExpected), "count", false, float64(r.checkpointsAfter), nan, nan},
	}
	if b := r.backup; b != nil {
		W := strconv.Itoa(r.backupWriters)
		rows = append(rows,
			row{"hot backup (BackupFile) before prune, " + W + " Sync writers beside", "s", false, b.seconds, nan, nan},
			row{"backup copy size", "bytes", false, float64(b.bytes), nan, nan},
			row{fmt.Sprintf("checkpoints in the copy (want >= %d)", r.loadCheckpoints), "count", false, float64(b.checkpoints), nan, nan},
			row{fmt.Sprintf("Saves started without backup (%.2f s window before it)", b.windowSeconds), "count", false, float64(b.nWithout), nan, nan},
			row{"Saves started during backup", "count", false, float64(b.nDuring), nan, nan},
			row{W + " Sync writers' Save p99 without backup", "ms", false, b.p99Without, nan, nan},
			row{W + " Sync writers' Save p99 during backup", "ms", false, b.p99Dur, nan, nan},
			row{W + " Sync writers' Save max without backup", "ms", false, b.maxWithout, nan, nan},
			row{W + " Sync writers' Save max during backup", "ms", false, b.maxDur, nan, nan},
			row{"Saves during backup slower than the slowest without", "count", false, float64(b.nSlower), nan, nan},
			row{"backup: first chunk written (snapshot taken), after the call", "ms", false, b.firstChunkMs, nan, nan},
			row{"backup: last chunk written (then fsync, rename), after the call", "ms", false, b.lastChunkMs, nan, nan},
			row{"slowest Save during backup: started, after the call", "ms", false, b.slowStartMs, nan, nan},
			row{"slowest Save during backup: ended, after the call", "ms", false, b.slowEndMs, nan, nan},
		)
	}
	return rows
}
