package main

// W3 "retention" (WORKLOAD.md): W1 at T=1,000, S=100, then prune to the
// latest 5 checkpoints per thread and reclaim space; report the prune time
// and the file size before, after prune and after compaction.
//
// W3 is written separately, in bench/w3 (prune and compaction belong to
// the retention work). To wire it: make runW3 below call it and fill a
// w3Result; `go run ./bench --w3` then prints the W3 table (and, with
// --peer, the peer's `--workload w3` figures can be added to w3Rows: the
// peer reports its load speed and file size; it has no prune).

import (
	"context"
	"errors"
	"fmt"
)

// errW3NotWired is returned by runW3 until bench/w3 is wired in.
var errW3NotWired = errors.New("W3 (retention) is not wired into this program yet: bench/w3 provides it; see bench/w3.go")

func isNotWired(err error) bool { return errors.Is(err, errW3NotWired) }

// w3Result is what W3 reports.
type w3Result struct {
	loadStepsPerS       float64 // the W1 load at T=1,000 S=100
	pruneSeconds        float64 // prune to the latest 5 per thread
	bytesBefore         float64 // file size after the load
	bytesAfterPrune     float64
	bytesAfterCompact   float64
	checkpointsAfter    int // must be T*5
	checkpointsExpected int
}

// runW3 runs W3 on ckpt in dir. It is the one place to call bench/w3.
func runW3(ctx context.Context, cfg config, dir string, logf func(string, ...any)) (*w3Result, error) {
	_, _, _, _ = ctx, cfg, dir, logf
	return nil, errW3NotWired
}

// w3Rows lays out the W3 figures.
func w3Rows(r *w3Result) []row {
	return []row{
		{"W3 load steps/s, 1 writer, Sync", "steps/s", true, r.loadStepsPerS, nan, nan},
		{"prune to the latest 5 per thread", "s", false, r.pruneSeconds, nan, nan},
		{"file size before prune", "bytes", false, r.bytesBefore, nan, nan},
		{"file size after prune", "bytes", false, r.bytesAfterPrune, nan, nan},
		{"file size after compaction", "bytes", false, r.bytesAfterCompact, nan, nan},
		{fmt.Sprintf("checkpoints left (want %d)", r.checkpointsExpected), "count", false, float64(r.checkpointsAfter), nan, nan},
	}
}
