package main

// Issue 13's "readers never block writers" as a figure: the p99 latency of
// Sync writes on the W1 store, once alone and once while long reads run
// beside them (a full Export streamed to a slow consumer, as a history
// browser or a backup does).
//
// A single pair of halves proved too noisy on a shared machine: runs 12
// and 13 timed the Saves beside the Export alike (2.2-2.6 ms) but the
// alone p99 at 0.94 and 1.94 ms, so the ratio read 1.31x and 2.32x. The
// figure therefore times several pairs, interleaved (alone, beside,
// alone, beside...), and reports the median of the pairs' own ratios
// with their spread: each ratio compares two halves timed seconds apart
// on the same file.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

const (
	// longReadSaves is how many Sync Saves each half times.
	longReadSaves = 400
	// longReadPairs is how many (alone, beside) pairs the figure times.
	longReadPairs = 5
	// slowWriteDelay is how long the slow consumer takes per write it is
	// handed (Export buffers 64 KiB): it keeps each of Export's read
	// transactions (one per thread) open for tens of milliseconds, far
	// longer than a Sync write takes.
	slowWriteDelay = 20 * time.Millisecond
)

// slowWriter takes what it is given slowly.
type slowWriter struct{ ctx context.Context }

func (w slowWriter) Write(p []byte) (int, error) {
	select {
	case <-time.After(slowWriteDelay):
		return len(p), nil
	case <-w.ctx.Done():
		return 0, w.ctx.Err()
	}
}

// longReadResult is the figure: the p99 of each half of each pair, in µs,
// and how many thread exports (long read transactions) ran beside the
// timed writes (the beside halves mean nothing if none did).
type longReadResult struct {
	alone, beside []float64
	reads         int
	// What each half's Saves paid beside the store's own work, from its
	// metrics: the log's mean fsync (µs), the Save p50 (µs), and the
	// applier's bbolt commits and their mean (µs).
	aloneIO, besideIO []halfIO
}

// halfIO is one half's view from the store's metrics.
type halfIO struct {
	p50, fsyncMean float64
	commits        int64
	commitMean     float64
}

// ioBetween is what the metrics counted between a and b.
func ioBetween(a, b ckpt.Metrics, p50 float64) halfIO {
	mean := func(n int64, d time.Duration) float64 {
		if n == 0 {
			return 0
		}
		return micros(d) / float64(n)
	}
	return halfIO{
		p50:        p50,
		fsyncMean:  mean(b.FsyncLatency.Count-a.FsyncLatency.Count, b.FsyncLatency.Sum-a.FsyncLatency.Sum),
		commits:    b.BoltCommits - a.BoltCommits,
		commitMean: mean(b.BoltCommitLatency.Count-a.BoltCommitLatency.Count, b.BoltCommitLatency.Sum-a.BoltCommitLatency.Sum),
	}
}

// ratios are the pairs' own beside / alone ratios.
func (r longReadResult) ratios() []float64 {
	out := make([]float64, len(r.alone))
	for i := range r.alone {
		out[i] = r.beside[i] / r.alone[i]
	}
	return out
}

// summary is the median ratio with its spread (the lowest and highest).
func (r longReadResult) summary() string {
	rs := r.ratios()
	return fmt.Sprintf("median %.2fx (pairs %.2fx-%.2fx), alone p99 median %.0f µs (%.0f-%.0f), beside %.0f µs (%.0f-%.0f)",
		median(rs), slices.Min(rs), slices.Max(rs),
		median(r.alone), slices.Min(r.alone), slices.Max(r.alone),
		median(r.beside), slices.Min(r.beside), slices.Max(r.beside))
}

// syncDuringLongRead times pairs (alone, then beside long reads) of
// longReadSaves Sync Saves each.
func syncDuringLongRead(ctx context.Context, st *ckpt.Store, in *w1Input, pairs int) (longReadResult, error) {
	var res longReadResult
	payload := strings.Repeat("x", in.P)
	var io halfIO
	saves := func(thread string) (float64, error) {
		// Each half starts with the log applied: a half then pays for the
		// applier's bbolt commits of its own groups only. (Without this the
		// beside half met the apply of the alone half's groups: the pause
		// before it let the applier start, and the Export's readers
		// delayed its commit into the timed Saves.)
		if err := st.ApplyLog(ctx); err != nil {
			return 0, err
		}
		m0 := st.Metrics()
		lat := make([]float64, 0, longReadSaves)
		for i := range longReadSaves {
			t0 := time.Now()
			if _, err := st.Save(ctx, thread, map[string]any{"step": i, "msg": payload}, ckpt.Metadata{"step": i}); err != nil {
				return 0, err
			}
			lat = append(lat, micros(time.Since(t0)))
		}
		slices.Sort(lat)
		io = ioBetween(m0, st.Metrics(), pct(lat, 50))
		return pct(lat, 99), nil
	}
	for p := range pairs {
		alone, err := saves(fmt.Sprintf("longread-alone-%d", p))
		if err != nil {
			return res, err
		}
		res.aloneIO = append(res.aloneIO, io)
		beside, reads, err := besideLongReads(ctx, st, func() (float64, error) {
			return saves(fmt.Sprintf("longread-beside-%d", p))
		})
		if err != nil {
			return res, err
		}
		res.besideIO = append(res.besideIO, io)
		res.alone = append(res.alone, alone)
		res.beside = append(res.beside, beside)
		res.reads += reads
	}
	return res, nil
}

// besideLongReads runs timed while full Exports to a slow consumer run in
// a loop, and returns how many thread exports ran.
func besideLongReads(ctx context.Context, st *ckpt.Store, timed func() (float64, error)) (float64, int, error) {
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var readErr error
	var exported int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for rctx.Err() == nil {
			sum, err := st.Export(rctx, slowWriter{rctx}, ckpt.ExportOptions{})
			exported += int64(sum.Threads)
			if err != nil && rctx.Err() == nil {
				readErr = err
				return
			}
		}
	}()
	// Let the first read transaction open before timing.
	time.Sleep(2 * slowWriteDelay)
	v, err := timed()
	stop()
	wg.Wait()
	if err != nil {
		return 0, 0, err
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return 0, 0, fmt.Errorf("long read: %w", readErr)
	}
	return v, int(exported), nil
}

// longReadOnly is --longread-only: the W1 store loaded once per
// repetition, then the figure's pairs, each pair's figures and ratio.
func longReadOnly(ctx context.Context, cfg config, in *w1Input, dir string, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	fmt.Fprintf(out, "# ckpt: Sync Save p99 alone and beside long reads (issue 13)\n\n")
	fmt.Fprintf(out, "- date: %s\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, %d Sync Saves per half, %d pairs per run (alone, beside, alone, beside...)\n\n", cfg.T, cfg.S, cfg.P, cfg.C, longReadSaves, cfg.longReadPairs)
	fmt.Fprintf(out, "| run | pair | Save p99 alone (µs) | beside long reads (µs) | beside / alone | p50 alone / beside (µs) | log fsync mean alone / beside (µs) | bbolt commits alone / beside (mean µs) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var all longReadResult
	for rep := 1; rep <= cfg.repeat; rep++ {
		path := filepath.Join(dir, fmt.Sprintf("longread-r%d.db", rep))
		logf("ckpt: long-read figure, run %d of %d: loading W1", rep, cfg.repeat)
		// Loaded, closed and opened again, as the full run times it.
		if _, _, err := w1Load(ctx, path, in, ckpt.Sync, putThenWrites, 1, false); err != nil {
			return err
		}
		st, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			return err
		}
		logf("ckpt: long-read figure, run %d of %d: %d pairs", rep, cfg.repeat, cfg.longReadPairs)
		res, err := syncDuringLongRead(ctx, st, in, cfg.longReadPairs)
		if err = errors.Join(err, st.Close()); err != nil {
			return err
		}
		if !cfg.keep {
			_ = os.Remove(path)
		}
		for i, ratio := range res.ratios() {
			a, b := res.aloneIO[i], res.besideIO[i]
			fmt.Fprintf(out, "| %d | %d | %.0f | %.0f | %.2fx | %.0f / %.0f | %.0f / %.0f | %d (%.0f) / %d (%.0f) |\n", rep, i+1, res.alone[i], res.beside[i], ratio,
				a.p50, b.p50, a.fsyncMean, b.fsyncMean, a.commits, a.commitMean, b.commits, b.commitMean)
		}
		all.alone = append(all.alone, res.alone...)
		all.beside = append(all.beside, res.beside...)
		all.reads += res.reads
	}
	fmt.Fprintf(out, "\nbeside / alone (want ≤ 1.5x): %s; %d thread exports ran beside; load average (1/5/15 min) at start: %s; at end: %s; took %s\n",
		all.summary(), all.reads, load0, loadAvg(), time.Since(started).Round(time.Second))
	return nil
}
