package main

// --w1-only: issue 14's one-writer figure alone. Each round runs, on fresh
// files, the fsync probe, W1 with one Sync writer as Put+PutWrites, the
// one-writer fsync'd log append of the same steps' bytes (bench/limits.go),
// then W1 as PutFull, so each figure sits next to the disk it ran on: the
// machine is shared, and a figure only means something beside its round's
// reference. With --trace the whole run is traced (go tool trace: where
// one op's time goes between the writer, the commit loop and the syncer).

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ckpt-go/ckpt"
)

func w1Only(ctx context.Context, cfg config, in *w1Input, dir string, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	recs, err := stepBytes(in)
	if err != nil {
		return err
	}
	stop, err := startTrace(cfg.trace)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "# ckpt: one Sync writer against the one-writer fsync'd log append\n\n- date: %s\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, 1 writer, Sync, %d round(s); each round: fsync probe, Put+PutWrites, the append, PutFull\n\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.repeat)
	fmt.Fprintf(out, "Per figure: steps/s (ratio to the round's append), step p50 in µs, process CPU µs per step.\n\n")
	fmt.Fprintf(out, "| round | probe p50 µs | append steps/s | Put+PutWrites | p50 | cpu | PutFull | p50 | cpu |\n")
	fmt.Fprintf(out, "|---:|---:|---:|---|---:|---:|---|---:|---:|\n")
	var probe, app, pwS, pwP, pwR, fullS, fullP, fullR []float64
	for rep := 1; rep <= cfg.repeat; rep++ {
		logf("ckpt: w1, round %d of %d", rep, cfg.repeat)
		p50, _, err := fsyncProbe(dir, 50)
		if err != nil {
			return err
		}
		pw, pwCPU, err := w1OneWriter(ctx, filepath.Join(dir, "w1only-pw.db"), in, putThenWrites)
		if err != nil {
			return err
		}
		a, err := logAppend(filepath.Join(dir, "w1only-append.log"), recs)
		if err != nil {
			return err
		}
		full, fullCPU, err := w1OneWriter(ctx, filepath.Join(dir, "w1only-full.db"), in, putFull)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| %d | %.0f | %.0f | %.0f (%.3fx) | %.0f | %.1f | %.0f (%.3fx) | %.0f | %.1f |\n", rep, p50, a,
			pw.stepsPerS, pw.stepsPerS/a, pw.p50, pwCPU, full.stepsPerS, full.stepsPerS/a, full.p50, fullCPU)
		probe, app = append(probe, p50), append(app, a)
		pwS, pwP, pwR = append(pwS, pw.stepsPerS), append(pwP, pw.p50), append(pwR, pw.stepsPerS/a)
		fullS, fullP, fullR = append(fullS, full.stepsPerS), append(fullP, full.p50), append(fullR, full.stepsPerS/a)
	}
	fmt.Fprintf(out, "\nmedians: probe p50 %.0f µs; append %.0f steps/s; Put+PutWrites %.0f steps/s (%.3fx of the append, median of the rounds' ratios), p50 %.0f µs; PutFull %.0f steps/s (%.3fx), p50 %.0f µs\n",
		median(probe), median(app), median(pwS), median(pwR), median(pwP), median(fullS), median(fullR), median(fullP))
	fmt.Fprintf(out, "load average (1/5/15 min) at start: %s; at end: %s; took %s\n", load0, loadAvg(), time.Since(started).Round(time.Second))
	return nil
}

// w1OneWriter loads W1 with one Sync writer on a fresh store at path,
// removes it after, and returns the load and its process CPU µs per step.
func w1OneWriter(ctx context.Context, path string, in *w1Input, kind stepKind) (*w1Result, float64, error) {
	cpu0 := processCPU()
	r, st, err := w1Load(ctx, path, in, ckpt.Sync, kind, 1, true)
	if err != nil {
		return nil, 0, err
	}
	cpu := processCPU() - cpu0 // the load's: Close applies the rest, and is not timed
	err = st.Close()
	_ = os.Remove(path)
	if err != nil {
		return nil, 0, err
	}
	return r, micros(cpu) / float64(r.steps), nil
}
