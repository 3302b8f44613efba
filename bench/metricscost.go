package main

// Issue 16's "metrics cost": W1 and R1 with Store.Metrics' counters on
// (the default) and off (Options.DisableMetrics), alternating in one run
// on fresh files, so both halves see the same machine. Each round runs
// both halves, the one that goes first alternating from round to round
// (the second run of a pair sees a warmer page cache and a fuller disk);
// the figure is the median over rounds of each round's on/off ratio, with
// the lowest and highest ratio as the spread.
//
//	go run ./bench --metrics-only --metrics-rounds 7

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
)

// metricsFigures are the figures of one half of a round.
type metricsFigures struct {
	w1Sync, w1NoSync, r1 float64 // steps/s, steps/s, ops/s
}

// metricsRound is one round: metrics on and off.
type metricsRound struct {
	on, off metricsFigures
	onFirst bool
}

// metricsHalf runs W1 (1 writer, PutFull) Sync and NoSync, and R1 on the
// Sync store, each on a fresh file in dir, with the metrics on or off.
func metricsHalf(ctx context.Context, in *w1Input, dir string, reads int, disable bool) (metricsFigures, error) {
	var f metricsFigures
	path := filepath.Join(dir, "sync.db")
	r, st, err := w1LoadWith(ctx, path, in, ckpt.Options{Durability: ckpt.Sync, DisableMetrics: disable}, putFull, 1, true)
	if err != nil {
		return f, err
	}
	f.w1Sync = r.stepsPerS
	if f.r1, err = r1Only(ctx, st, r.threads, reads); err != nil {
		_ = st.Close()
		return f, err
	}
	if m := st.Metrics(); disable != (m.Ops[ckpt.OpPut] == 0) {
		_ = st.Close()
		return f, fmt.Errorf("metrics cost: DisableMetrics=%v but %d puts counted", disable, m.Ops[ckpt.OpPut])
	}
	if err := st.Close(); err != nil {
		return f, err
	}
	_ = os.Remove(path)
	path = filepath.Join(dir, "nosync.db")
	if r, _, err = w1LoadWith(ctx, path, in, ckpt.Options{Durability: ckpt.NoSync, DisableMetrics: disable}, putFull, 1, false); err != nil {
		return f, err
	}
	f.w1NoSync = r.stepsPerS
	_ = os.Remove(path)
	return f, nil
}

// r1Only is R1: getTuple(latest) round-robin over the threads, ops/s.
func r1Only(ctx context.Context, st *ckpt.Store, th []thread, n int) (float64, error) {
	t0 := time.Now()
	for i := range n {
		if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[i%len(th)].id}); err != nil {
			return 0, fmt.Errorf("R1: %w", err)
		}
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// metricsCost runs rounds rounds.
func metricsCost(ctx context.Context, cfg config, in *w1Input, dir string, logf func(string, ...any)) ([]metricsRound, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var rounds []metricsRound
	for i := range cfg.metricsRounds {
		rd := metricsRound{onFirst: i%2 == 0}
		for _, disable := range []bool{!rd.onFirst, rd.onFirst} {
			state := "on"
			if disable {
				state = "off"
			}
			logf("ckpt: metrics cost, round %d of %d, metrics %s: W1 Sync and NoSync PutFull (%d steps), R1 (%d calls)", i+1, cfg.metricsRounds, state, in.T*in.S, cfg.reads)
			f, err := metricsHalf(ctx, in, dir, cfg.reads, disable)
			if err != nil {
				return nil, err
			}
			if disable {
				rd.off = f
			} else {
				rd.on = f
			}
		}
		rounds = append(rounds, rd)
	}
	return rounds, nil
}

// ratioSpread returns the median, lowest and highest of the rounds' on/off
// ratios of the figure get picks.
func ratioSpread(rounds []metricsRound, get func(metricsFigures) float64) (med, lo, hi float64) {
	r := make([]float64, len(rounds))
	for i, rd := range rounds {
		r[i] = get(rd.on) / get(rd.off)
	}
	return median(r), slices.Min(r), slices.Max(r)
}

// writeMetricsCost prints every round and the median ratios.
func writeMetricsCost(out io.Writer, rounds []metricsRound) {
	fmt.Fprintf(out, "| round | first | W1 Sync on / off (steps/s) | ratio | W1 NoSync on / off (steps/s) | ratio | R1 on / off (ops/s) | ratio |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for i, rd := range rounds {
		first := "off"
		if rd.onFirst {
			first = "on"
		}
		fmt.Fprintf(out, "| %d | %s | %.0f / %.0f | %.3f | %.0f / %.0f | %.3f | %.0f / %.0f | %.3f |\n", i+1, first,
			rd.on.w1Sync, rd.off.w1Sync, rd.on.w1Sync/rd.off.w1Sync,
			rd.on.w1NoSync, rd.off.w1NoSync, rd.on.w1NoSync/rd.off.w1NoSync,
			rd.on.r1, rd.off.r1, rd.on.r1/rd.off.r1)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "| figure (metrics on / off, median of %d rounds) | ratio | lowest | highest | target |\n|---|---:|---:|---:|---|\n", len(rounds))
	for _, f := range []struct {
		name string
		get  func(metricsFigures) float64
	}{
		{"W1 1 writer PutFull Sync, steps/s", func(m metricsFigures) float64 { return m.w1Sync }},
		{"W1 1 writer PutFull NoSync, steps/s", func(m metricsFigures) float64 { return m.w1NoSync }},
		{"R1 getTuple(latest), ops/s", func(m metricsFigures) float64 { return m.r1 }},
	} {
		med, lo, hi := ratioSpread(rounds, f.get)
		verdict := "met"
		if med < 0.97 {
			verdict = "missed"
		}
		fmt.Fprintf(out, "| %s | %.3f | %.3f | %.3f | ≥ 0.97: %s |\n", f.name, med, lo, hi, verdict)
	}
}

// metricsOnly is --metrics-only: the metrics cost figure alone.
func metricsOnly(ctx context.Context, cfg config, in *w1Input, dir string, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	rounds, err := metricsCost(ctx, cfg, in, filepath.Join(dir, "metrics"), logf)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "# ckpt: metrics on and off (issue 16)\n\n")
	fmt.Fprintf(out, "- date: %s (took %s)\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), machine())
	fmt.Fprintf(out, "- load average (1/5/15 min) at start: %s; at end: %s\n", load0, loadAvg())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, 1 writer, PutFull; R1: %d calls on the Sync store; %d rounds, fresh files each half\n\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.reads, cfg.metricsRounds)
	writeMetricsCost(out, rounds)
	return nil
}
