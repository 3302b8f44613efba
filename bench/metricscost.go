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
	"errors"
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

// metricsBlocks is how many blocks each figure of a round is cut into:
// the on and off stores take turns block by block (the first alternating),
// so a change in the machine's load during the round falls on both.
const metricsBlocks = 20

// metricsPair runs one round: W1 (1 writer, PutFull) Sync on two fresh
// stores, one with the metrics on and one off, interleaved block by block;
// then R1 on them alike; then W1 NoSync the same way.
//
// With control, the "off" store has the metrics on too (an A/A run).
func metricsPair(ctx context.Context, in *w1Input, dir string, reads int, onFirst, control bool) (metricsRound, error) {
	rd := metricsRound{onFirst: onFirst}
	type side struct {
		st      *ckpt.Store
		threads []thread
		took    time.Duration
		disable bool
	}
	open := func(name string, dur ckpt.Durability) ([2]*side, error) {
		var sides [2]*side
		for i, disable := range []bool{false, true} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", name, i))
			_ = os.Remove(path)
			disable = disable && !control
			st, err := ckpt.Open(path, ckpt.Options{Durability: dur, DisableMetrics: disable})
			if err != nil {
				return sides, err
			}
			sides[i] = &side{st: st, threads: newThreads(in), disable: disable}
		}
		return sides, nil
	}
	closeAll := func(sides [2]*side) error {
		var errs []error
		for _, sd := range sides {
			if sd == nil {
				continue
			}
			if m := sd.st.Metrics(); sd.disable != (m.Ops[ckpt.OpPut] == 0) {
				errs = append(errs, fmt.Errorf("metrics cost: DisableMetrics=%v but %d puts counted", sd.disable, m.Ops[ckpt.OpPut]))
			}
			errs = append(errs, sd.st.Close(), os.Remove(sd.st.Path()))
		}
		return errors.Join(errs...)
	}
	// order is the sides in the order block b runs them.
	order := func(sides [2]*side, b int) [2]*side {
		if (b%2 == 0) == onFirst {
			return sides
		}
		return [2]*side{sides[1], sides[0]}
	}
	n := in.T * in.S
	w1 := func(sides [2]*side) error {
		for b := range metricsBlocks {
			for _, sd := range order(sides, b) {
				t0 := time.Now()
				for i := b * n / metricsBlocks; i < (b+1)*n/metricsBlocks; i++ {
					s, t := i/in.T, i%in.T // W1's order: step by step, round-robin over the threads
					if _, err := doStep(ctx, sd.st, in, &sd.threads[t], t, s, putFull); err != nil {
						return err
					}
				}
				sd.took += time.Since(t0)
			}
		}
		return nil
	}
	rate := func(sides [2]*side, count int) (on, off float64) {
		return float64(count) / sides[0].took.Seconds(), float64(count) / sides[1].took.Seconds()
	}

	sides, err := open("sync", ckpt.Sync)
	if err == nil {
		err = w1(sides)
	}
	if err != nil {
		return rd, errors.Join(err, closeAll(sides))
	}
	rd.on.w1Sync, rd.off.w1Sync = rate(sides, n)
	for _, sd := range sides {
		sd.took = 0
		// R1 on a settled store, as runReads reads (reads.go).
		if err := settleForReads(ctx, sd.st); err != nil {
			return rd, errors.Join(err, closeAll(sides))
		}
	}
	for b := range metricsBlocks {
		for _, sd := range order(sides, b) {
			t0 := time.Now()
			for i := b * reads / metricsBlocks; i < (b+1)*reads/metricsBlocks; i++ {
				if _, err := sd.st.GetTuple(ctx, ckpt.Config{ThreadID: sd.threads[i%in.T].id}); err != nil {
					return rd, errors.Join(fmt.Errorf("R1: %w", err), closeAll(sides))
				}
			}
			sd.took += time.Since(t0)
		}
	}
	rd.on.r1, rd.off.r1 = rate(sides, reads)
	if err := closeAll(sides); err != nil {
		return rd, err
	}

	sides, err = open("nosync", ckpt.NoSync)
	if err == nil {
		err = w1(sides)
	}
	if err = errors.Join(err, closeAll(sides)); err != nil {
		return rd, err
	}
	rd.on.w1NoSync, rd.off.w1NoSync = rate(sides, n)
	return rd, nil
}

// metricsCost runs cfg.metricsRounds rounds.
func metricsCost(ctx context.Context, cfg config, in *w1Input, dir string, logf func(string, ...any)) ([]metricsRound, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var rounds []metricsRound
	for i := range cfg.metricsRounds {
		logf("ckpt: metrics cost, round %d of %d: W1 Sync PutFull (%d steps), R1 (%d calls), W1 NoSync PutFull, on and off interleaved in %d blocks each",
			i+1, cfg.metricsRounds, in.T*in.S, cfg.reads, metricsBlocks)
		rd, err := metricsPair(ctx, in, dir, cfg.reads, i%2 == 0, cfg.metricsAA)
		if err != nil {
			return nil, err
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
	if cfg.metricsAA {
		fmt.Fprintf(out, "# ckpt: metrics on and off (issue 16): CONTROL, both sides with the metrics on\n\n")
	} else {
		fmt.Fprintf(out, "# ckpt: metrics on and off (issue 16)\n\n")
	}
	fmt.Fprintf(out, "- date: %s (took %s)\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), machine())
	fmt.Fprintf(out, "- load average (1/5/15 min) at start: %s; at end: %s\n", load0, loadAvg())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, 1 writer, PutFull; R1: %d calls on the Sync stores; %d rounds, each on two fresh stores (on, off) taking turns in %d blocks per figure; \"first\": the side of the first block\n\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.reads, cfg.metricsRounds, metricsBlocks)
	writeMetricsCost(out, rounds)
	return nil
}
