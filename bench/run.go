package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w1Figures are ckpt's W1 and read figures, each the median over the
// repetitions.
type w1Figures map[string][]float64

func (f w1Figures) add(k string, v float64) { f[k] = append(f[k], v) }

func (f w1Figures) get(k string) float64 {
	if len(f[k]) == 0 {
		return nan
	}
	return median(f[k])
}

// run is the whole benchmark: ckpt, then the peer on the same input, then
// the tables.
func run(ctx context.Context, cfg config, out, log io.Writer) error {
	logf := func(format string, a ...any) {
		fmt.Fprintf(log, "[bench %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "ckpt-bench-")
		if err != nil {
			return err
		}
		dir = d
		if !cfg.keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ckptDir, peerDir := filepath.Join(dir, "ckpt"), filepath.Join(dir, "peer")
	for _, d := range []string{ckptDir, peerDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	started := time.Now().UTC()
	load0 := loadAvg()
	in := buildW1Input(cfg.T, cfg.S, cfg.P, cfg.C, cfg.reads)
	sum := in.checksum()

	var pr *peer
	peerSum := ""
	if cfg.peer != "" {
		logf("peer: preparing %s in %s (npm ci on first use)", cfg.peerSrc, cfg.peerCache)
		var err error
		if pr, err = setupPeer(ctx, cfg.peerSrc, cfg.peerCache, log); err != nil {
			return err
		}
		if peerSum, err = pr.checksum(ctx, in); err != nil {
			return err
		}
		if peerSum != sum {
			return fmt.Errorf("%w: W1 input sha256 is %s for ckpt and %s for the peer: not comparing", errPeerInput, sum, peerSum)
		}
	}
	fsP50, fsP99, err := fsyncProbe(ckptDir, 50)
	if err != nil {
		return err
	}

	if cfg.webOnly {
		return webOnly(ctx, cfg, in, ckptDir, out, logf)
	}
	if cfg.readsOnly {
		return readsOnly(ctx, cfg, in, ckptDir, out, logf)
	}
	if cfg.w1Only {
		return w1Only(ctx, cfg, in, ckptDir, out, logf)
	}
	if cfg.writersOnly {
		return writersOnly(ctx, cfg, in, ckptDir, fsP50, out, logf)
	}
	if cfg.longReadOnly {
		return longReadOnly(ctx, cfg, in, ckptDir, out, logf)
	}
	if cfg.metricsOnly {
		return metricsOnly(ctx, cfg, in, ckptDir, out, logf)
	}
	if cfg.w4Only {
		w4, err := runW4(ctx, cfg, in, filepath.Join(ckptDir, "w4"), pr, peerDir, logf)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "# ckpt: W4 scale\n\n- date: %s (took %s)\n- machine: %s\n- load average (1/5/15 min) at start: %s; at end: %s\n",
			started.Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), machine(), load0, loadAvg())
		fmt.Fprintf(out, "- fsync probe (4 KiB overwrite + fsync, ckpt dir): p50 %.0f µs, p99 %.0f µs\n", fsP50, fsP99)
		writeW4Header(out, w4)
		fmt.Fprintln(out)
		writeW4(out, w4)
		return nil
	}
	if cfg.w3Only {
		w3, err := runW3(ctx, cfg, filepath.Join(ckptDir, "w3"), logf)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "# ckpt: W3 retention and hot backup\n\n- date: %s (took %s)\n- machine: %s\n- load average (1/5/15 min) at start: %s; at end: %s\n\n",
			started.Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), machine(), load0, loadAvg())
		fmt.Fprintf(out, "## W3: retention (%d threads x %d steps, prune to the latest %d per thread, compact)\n\n", cfg.w3T, cfg.w3S, w3Keep)
		writeFigures(out, w3Rows(w3), false)
		return nil
	}

	// W1 and reads on ckpt.
	fig := w1Figures{}
	for rep := 1; rep <= cfg.repeat; rep++ {
		if err := ckptW1(ctx, cfg, in, filepath.Join(ckptDir, fmt.Sprintf("r%d", rep)), fig, logf); err != nil {
			return err
		}
	}

	// W1 and reads on the peer.
	var pw1 *peerReport
	var peerDisk map[string]float64
	if pr != nil {
		logf("peer: W1 (both durability modes) and reads, %d repetition(s)", cfg.repeat)
		d := filepath.Join(peerDir, "w1")
		pw1, err = pr.run(ctx, "--workload", "w1", "--threads", strconv.Itoa(cfg.T), "--steps", strconv.Itoa(cfg.S),
			"--payload", strconv.Itoa(cfg.P), "--context", strconv.Itoa(cfg.C), "--writers", strconv.Itoa(cfg.writers),
			"--repeat", strconv.Itoa(cfg.repeat), "--durability", "both", "--dir", d, "--keep")
		if err != nil {
			return err
		}
		peerDisk = peerW1Disk(d, cfg.repeat)
		_ = os.RemoveAll(d)
	}

	// W2.
	var w2 *w2Result
	peerW2s := map[string]*peerW2{}
	if cfg.w2Steps > 0 {
		in2 := buildW1Input(1, cfg.w2Steps, cfg.P, cfg.C, 0)
		logf("ckpt: W2, 1 thread, %d steps (Sync)", cfg.w2Steps)
		if w2, err = runW2(ctx, filepath.Join(ckptDir, "w2.db"), in2); err != nil {
			return err
		}
		if !cfg.keep {
			_ = os.Remove(filepath.Join(ckptDir, "w2.db"))
		}
		if pr != nil {
			modes := []string{cfg.peerW2}
			if cfg.peerW2 == "both" {
				modes = []string{"full", "shipped"}
			}
			for _, m := range modes {
				logf("peer: W2 %s, %d steps", m, cfg.w2Steps)
				r, err := pr.run(ctx, "--workload", "w2", "--steps", strconv.Itoa(cfg.w2Steps), "--payload", strconv.Itoa(cfg.P),
					"--context", strconv.Itoa(cfg.C), "--durability", m, "--dir", filepath.Join(peerDir, "w2-"+m))
				if err != nil {
					return err
				}
				if peerW2s[m], err = r.w2(m); err != nil {
					return err
				}
			}
		}
	}

	// W1 on Redis.
	var redisFigs []redisFigure
	if cfg.redis {
		var err error
		if redisFigs, err = runRedis(ctx, cfg, filepath.Join(ckptDir, "redis"), in, logf); err != nil {
			return err
		}
	}

	// Metrics on and off.
	var mrounds []metricsRound
	if cfg.metrics {
		var err error
		if mrounds, err = metricsCost(ctx, cfg, in, filepath.Join(ckptDir, "metrics"), logf); err != nil {
			return err
		}
	}

	// W3 (retention).
	var w3 *w3Result
	if cfg.w3 {
		var err error
		if w3, err = runW3(ctx, cfg, filepath.Join(ckptDir, "w3"), logf); err != nil {
			return err
		}
	}

	// W4 (scale).
	var w4 *w4Result
	if cfg.w4 {
		var err error
		if w4, err = runW4(ctx, cfg, in, filepath.Join(ckptDir, "w4"), pr, peerDir, logf); err != nil {
			return err
		}
	}

	// Report.
	fmt.Fprintf(out, "# ckpt benchmark\n\n")
	fmt.Fprintf(out, "- date: %s (took %s)\n", started.Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second))
	fmt.Fprintf(out, "- machine: %s\n", machine())
	fmt.Fprintf(out, "- load average (1/5/15 min) at start: %s; at end: %s\n", load0, loadAvg())
	fmt.Fprintf(out, "- fsync probe (4 KiB overwrite + fsync, %s): p50 %.0f µs, p99 %.0f µs\n", "ckpt dir", fsP50, fsP99)
	if pw1 != nil {
		fmt.Fprintf(out, "- peer fsync probe (its dir): p50 %.0f µs, p99 %.0f µs\n", pw1.FsyncRaw["p50_us"], pw1.FsyncRaw["p99_us"])
		fmt.Fprintf(out, "- peer: %s\n", versions(pw1.Versions))
		fmt.Fprintf(out, "- peer PRAGMAs: %s\n", pragmas(pw1.Pragmas))
	}
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, %d concurrent writers, %d repetition(s) (medians)\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.writers, cfg.repeat)
	fmt.Fprintf(out, "- W1 input sha256 (texts + R2 picks): ckpt %s", sum)
	if pr != nil {
		fmt.Fprintf(out, ", peer %s (equal)", peerSum)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out)

	rows := w1Rows(cfg, fig, pw1, peerDisk)
	fmt.Fprintf(out, "## W1 and reads\n\n")
	writeFigures(out, rows, pw1 != nil)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "## Targets\n\n")
	ts := w1Targets(fig, pw1)
	if w2 != nil {
		ts = append(ts, w2Targets(w2)...)
	}
	writeTargets(out, ts)
	fmt.Fprintln(out)
	if w2 != nil {
		fmt.Fprintf(out, "## W2: one thread, %d steps\n\n", w2.steps)
		writeW2(out, w2, peerW2s)
		fmt.Fprintln(out)
		if cfg.plot != "" {
			if err := plotW2(cfg.plot, w2, peerW2s); err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			logf("W2 plot written to %s", cfg.plot)
		}
	}
	if cfg.redis {
		writeRedis(out, redisFigs, fig)
	}
	if mrounds != nil {
		fmt.Fprintf(out, "## Metrics on and off (W1 1 writer PutFull, R1; %d rounds)\n\n", len(mrounds))
		writeMetricsCost(out, mrounds)
		fmt.Fprintln(out)
	}
	if cfg.w3 {
		fmt.Fprintf(out, "## W3: retention (%d threads x %d steps, prune to the latest %d per thread, compact)\n\n", cfg.w3T, cfg.w3S, w3Keep)
		writeFigures(out, w3Rows(w3), false)
		fmt.Fprintln(out)
	}
	if w4 != nil {
		writeW4Header(out, w4)
		fmt.Fprintln(out)
		writeW4(out, w4)
	}
	return nil
}

// ckptW1 runs one repetition of every W1 figure of ckpt, and the reads.
func ckptW1(ctx context.Context, cfg config, in *w1Input, dir string, fig w1Figures, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if !cfg.keep {
			_ = os.RemoveAll(dir)
		}
	}()
	db := func(name string) string { return filepath.Join(dir, name+".db") }
	n := in.T * in.S

	logf("ckpt: W1 Sync Put+PutWrites, 1 writer, %d steps; then reads", n)
	r, st, err := w1Load(ctx, db("sync-1w"), in, ckpt.Sync, putThenWrites, 1, true)
	if err != nil {
		return err
	}
	rd, err := runReads(ctx, st, in, r.threads, cfg.reads)
	if err != nil {
		_ = st.Close()
		return err
	}
	if err := r.closeAndSize(st); err != nil {
		return err
	}
	// After the file's size is taken: the figure writes to the store.
	logf("ckpt: Sync writes alone and beside long reads (%d each)", longReadSaves)
	if st, err = ckpt.Open(db("sync-1w"), ckpt.Options{}); err != nil {
		return err
	}
	lr, err := syncDuringLongRead(ctx, st, in, cfg.longReadPairs)
	if err = errors.Join(err, st.Close()); err != nil {
		return err
	}
	logf("ckpt: long reads: %s; %d thread exports ran beside the timed writes", lr.summary(), lr.reads)
	fig.add("longread.alone", median(lr.alone))
	fig.add("longread.beside", median(lr.beside))
	fig.add("longread.ratio", median(lr.ratios()))
	if err := webFigure(ctx, cfg, in, db("web"), fig, logf); err != nil {
		return err
	}
	fig.add("sync1.pw", r.stepsPerS)
	fig.add("sync1.pw.p50", r.p50)
	fig.add("sync1.pw.p99", r.p99)
	fig.add("file", float64(r.fileBytes))
	fig.add("disk", float64(r.diskBytes))
	fig.add("r1", rd.r1)
	fig.add("r1dec", rd.r1Decode)
	fig.add("r2", rd.r2)
	fig.add("r1reader", rd.r1Reader)
	fig.add("r2reader", rd.r2Reader)
	fig.add("r3", rd.r3)
	fig.add("r4", rd.r4)
	fig.add("r5", rd.r5ms)

	type variant struct {
		key     string
		dur     ckpt.Durability
		kind    stepKind
		writers int
	}
	for _, v := range []variant{
		{"sync1.full", ckpt.Sync, putFull, 1},
		{"syncN.pw", ckpt.Sync, putThenWrites, cfg.writers},
		{"syncN.full", ckpt.Sync, putFull, cfg.writers},
		{"async1.pw", ckpt.Async, putThenWrites, 1},
		{"nosync1.pw", ckpt.NoSync, putThenWrites, 1},
	} {
		logf("ckpt: W1 %s %s, %d writer(s)", v.dur, v.kind, v.writers)
		r, _, err := w1Load(ctx, db(v.key), in, v.dur, v.kind, v.writers, false)
		if err != nil {
			return err
		}
		fig.add(v.key, r.stepsPerS)
		if v.key == "sync1.full" {
			fig.add("sync1.full.p50", r.p50)
			fig.add("sync1.full.p99", r.p99)
		}
		_ = os.Remove(db(v.key))
	}

	logf("ckpt: physical references (raw bbolt, fsync'd log append), %d steps", n)
	recs, err := stepBytes(in)
	if err != nil {
		return err
	}
	raw, err := rawBolt(db("raw-bbolt"), recs)
	if err != nil {
		return err
	}
	fig.add("raw", raw)
	app, err := logAppend(filepath.Join(dir, "append.log"), recs)
	if err != nil {
		return err
	}
	fig.add("append", app)
	grp, err := logAppendGroup(filepath.Join(dir, "append-group.log"), recs, cfg.writers)
	if err != nil {
		return err
	}
	fig.add("appendN", grp)
	return nil
}
