package main

// --writers-only: issue 18's "16 Sync writers at >= 0.6x of the
// group-committed log append" alone. Each round runs, on fresh files, W1
// with --writers Sync writers as Put+PutWrites, the group-committed
// fsync'd log append of the same steps' bytes (the ceiling, bench/limits.go),
// then W1 as PutFull, so each figure sits next to the ceiling it is divided
// by. Per figure it also prints the process CPU per step and how the
// writes shared the log's fsyncs, which tell a CPU-bound commit loop from
// one that waits. With --cpuprofile the whole run is
// profiled into that file (the ceiling's share is logAppendGroup's), and
// with --trace it is traced (go tool trace: where the commit loop, the
// syncer and the writers wait); --mutexprofile and --blockprofile record
// every contended lock and every blocking event of the run.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/ckpt-go/ckpt"
)

// writersRun is one store figure of one round.
type writersRun struct {
	stepsPerS  float64
	cpuPerStep float64 // µs of process CPU (user+sys) per step
	perFsync   float64 // writes (calls) per log fsync
	fsyncUs    float64 // the log's mean fsync, µs
	fsyncBusy  float64 // share of the run the log's fsyncs took
	// withClose is steps/s with Close's time counted: Close applies what
	// the applier had not, so a change that leaves more for Close (a
	// larger apply batch) shows here and not in stepsPerS.
	withClose float64
	cpuClose  float64 // cpuPerStep with Close's CPU counted too
}

func writersOnly(ctx context.Context, cfg config, in *w1Input, dir string, fsyncP50 float64, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	recs, err := stepBytes(in)
	if err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		prof, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		defer writeProfile("mutex", cfg.mutexProfile, logf)
	}
	if cfg.blockProfile != "" {
		runtime.SetBlockProfileRate(1)
		defer writeProfile("block", cfg.blockProfile, logf)
	}
	stop, err := startTrace(cfg.trace)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "# ckpt: %d Sync writers against the group-committed log append\n\n- date: %s\n- machine: %s\n", cfg.writers, started.Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, %d writers, %d round(s); each round: Put+PutWrites, the ceiling, PutFull\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.writers, cfg.repeat)
	fmt.Fprintf(out, "- fsync probe (4 KiB overwrite + fsync) p50 %.0f µs\n\n", fsyncP50)
	fmt.Fprintf(out, "Per figure: steps/s (ratio to the round's ceiling), process CPU µs per step, writes (calls) per log fsync, the mean fsync in µs, the share of the run spent in fsyncs; last, each figure's steps/s with its Close (the apply left for it) timed too, as a ratio to the ceiling, and its CPU µs per step with Close's.\n\n")
	fmt.Fprintf(out, "| round | ceiling | Put+PutWrites | cpu | w/fsync | fsync | busy | PutFull | cpu | w/fsync | fsync | busy | with Close: P+PW / PutFull; cpu |\n")
	fmt.Fprintf(out, "|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|\n")
	var pwR, fullR, ceil, pwS, fullS []float64
	for rep := 1; rep <= cfg.repeat; rep++ {
		logf("ckpt: writers, round %d of %d", rep, cfg.repeat)
		var pw, full writersRun
		if pw, err = writersFigure(ctx, filepath.Join(dir, "writers-pw.db"), in, putThenWrites, cfg.writers); err != nil {
			return err
		}
		grp, gst, err := logAppendGroupStats(filepath.Join(dir, "writers-append.log"), recs, cfg.writers)
		if err != nil {
			return err
		}
		if full, err = writersFigure(ctx, filepath.Join(dir, "writers-full.db"), in, putFull, cfg.writers); err != nil {
			return err
		}
		ceiling := fmt.Sprintf("%.0f (%.1f steps/fsync, %.0f µs, %.2f busy)", grp, float64(len(recs))/float64(max(1, gst.fsyncs)),
			micros(gst.syncDur)/float64(max(1, gst.fsyncs)), gst.syncDur.Seconds()/gst.elapsed.Seconds())
		fmt.Fprintf(out, "| %d | %s | %.0f (%.3fx) | %.1f | %.2f | %.0f | %.2f | %.0f (%.3fx) | %.1f | %.2f | %.0f | %.2f | %.3fx / %.3fx; %.1f / %.1f |\n", rep, ceiling,
			pw.stepsPerS, pw.stepsPerS/grp, pw.cpuPerStep, pw.perFsync, pw.fsyncUs, pw.fsyncBusy,
			full.stepsPerS, full.stepsPerS/grp, full.cpuPerStep, full.perFsync, full.fsyncUs, full.fsyncBusy,
			pw.withClose/grp, full.withClose/grp, pw.cpuClose, full.cpuClose)
		pwR, fullR = append(pwR, pw.stepsPerS/grp), append(fullR, full.stepsPerS/grp)
		ceil, pwS, fullS = append(ceil, grp), append(pwS, pw.stepsPerS), append(fullS, full.stepsPerS)
	}
	fmt.Fprintf(out, "\nmedians: ceiling %.0f steps/s; Put+PutWrites %.0f (%.3fx of it, median of the rounds' ratios); PutFull %.0f (%.3fx)\n",
		median(ceil), median(pwS), median(pwR), median(fullS), median(fullR))
	fmt.Fprintf(out, "load average (1/5/15 min) at start: %s; at end: %s; took %s\n", load0, loadAvg(), time.Since(started).Round(time.Second))
	return nil
}

// writersFigure loads W1 with writers Sync writers on a fresh store at path
// and removes it after.
func writersFigure(ctx context.Context, path string, in *w1Input, kind stepKind, writers int) (writersRun, error) {
	cpu0 := processCPU()
	r, st, err := w1Load(ctx, path, in, ckpt.Sync, kind, writers, true)
	if err != nil {
		return writersRun{}, err
	}
	cpu := processCPU() - cpu0 // the load's: Close applies the rest, and is not timed
	m := st.Metrics()
	t0 := time.Now()
	err = st.Close()
	closed := time.Since(t0)
	cpuClose := processCPU() - cpu0
	_ = os.Remove(path)
	if err != nil {
		return writersRun{}, err
	}
	res := writersRun{stepsPerS: r.stepsPerS, cpuPerStep: micros(cpu) / float64(r.steps),
		withClose: float64(r.steps) / (r.seconds + closed.Seconds()), cpuClose: micros(cpuClose) / float64(r.steps)}
	if m.Fsyncs > 0 {
		res.perFsync = float64(m.GroupWrites) / float64(m.Fsyncs)
		res.fsyncUs = micros(m.FsyncLatency.Sum) / float64(m.Fsyncs)
		res.fsyncBusy = m.FsyncLatency.Sum.Seconds() / r.seconds
	}
	return res, nil
}

// writeProfile writes the named runtime profile (mutex, block) to path and
// stops collecting it; a failure is logged, the run's figures stand.
func writeProfile(name, path string, logf func(string, ...any)) {
	switch name {
	case "mutex":
		defer runtime.SetMutexProfileFraction(0)
	case "block":
		defer runtime.SetBlockProfileRate(0)
	}
	f, err := os.Create(path)
	if err == nil {
		err = errors.Join(pprof.Lookup(name).WriteTo(f, 0), f.Close())
	}
	if err != nil {
		logf("ckpt: writers: %s profile: %v", name, err)
	}
}

// startTrace starts an execution trace into path (--trace) and returns
// what stops it; with no path it does nothing.
func startTrace(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	tf, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(tf); err != nil {
		tf.Close()
		return nil, err
	}
	return func() {
		trace.Stop()
		tf.Close()
	}, nil
}
