package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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
		if pr, err = setupPeer(cfg.peerSrc, cfg.peerCache, log); err != nil {
			return err
		}
		if peerSum, err = pr.checksum(in); err != nil {
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
		pw1, err = pr.run("--workload", "w1", "--threads", strconv.Itoa(cfg.T), "--steps", strconv.Itoa(cfg.S),
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
				r, err := pr.run("--workload", "w2", "--steps", strconv.Itoa(cfg.w2Steps), "--payload", strconv.Itoa(cfg.P),
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

	// W3 (retention), when wired.
	var w3 *w3Result
	var w3Err error
	if cfg.w3 {
		w3, w3Err = runW3(ctx, cfg, filepath.Join(ckptDir, "w3"), logf)
		if w3Err != nil && !isNotWired(w3Err) {
			return w3Err
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
	if cfg.w3 {
		fmt.Fprintf(out, "## W3: retention\n\n")
		if w3Err != nil {
			fmt.Fprintf(out, "%v\n", w3Err)
		} else {
			writeFigures(out, w3Rows(w3), false)
		}
		fmt.Fprintln(out)
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
	fig.add("sync1.pw", r.stepsPerS)
	fig.add("sync1.pw.p50", r.p50)
	fig.add("sync1.pw.p99", r.p99)
	fig.add("file", float64(r.fileBytes))
	fig.add("disk", float64(r.diskBytes))
	fig.add("r1", rd.r1)
	fig.add("r1dec", rd.r1Decode)
	fig.add("r2", rd.r2)
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
	return nil
}

// peerW1Disk measures the disk blocks of the peer's single-writer W1 files
// (kept with --keep), per durability mode, median over repetitions.
func peerW1Disk(dir string, repeat int) map[string]float64 {
	out := map[string]float64{}
	for _, mode := range []string{"full", "shipped"} {
		var v []float64
		for rep := 1; rep <= repeat; rep++ {
			base := filepath.Join(dir, fmt.Sprintf("w1-%s-1w-r%d.sqlite", mode, rep))
			total, found := int64(0), false
			for _, suf := range []string{"", "-wal", "-shm"} {
				if _, d, err := fileSizes(base + suf); err == nil {
					total += d
					found = found || suf == ""
				}
			}
			if found {
				v = append(v, float64(total))
			}
		}
		if len(v) > 0 {
			out[mode] = median(v)
		} else {
			out[mode] = nan
		}
	}
	return out
}

// w1Rows lays out the W1 and read figures with the peer's beside them.
func w1Rows(cfg config, f w1Figures, p *peerReport, disk map[string]float64) []row {
	n := float64(cfg.T * cfg.S)
	pf := func(key string) (float64, float64) {
		if p == nil {
			return nan, nan
		}
		return p.fig(strings.ReplaceAll(key, "MODE", "full")), p.fig(strings.ReplaceAll(key, "MODE", "shipped"))
	}
	W := strconv.Itoa(cfg.writers)
	w1, w1s := pf("w1.MODE.puts_per_s.1w")
	wN, wNs := pf("w1.MODE.puts_per_s." + W + "w")
	p50, p50s := pf("w1.MODE.step_p50_us.1w")
	p99, p99s := pf("w1.MODE.step_p99_us.1w")
	by, bys := pf("w1.MODE.bytes")
	readFig := func(k string) float64 {
		if p == nil {
			return nan
		}
		return p.fig(k)
	}
	dFull, dShipped := nan, nan
	if disk != nil {
		dFull, dShipped = disk["full"], disk["shipped"]
	}
	return []row{
		{"W1 steps/s, 1 writer, durable: Put+PutWrites (2 commits/step)", "steps/s", true, f.get("sync1.pw"), w1, w1s},
		{"W1 steps/s, 1 writer, durable: PutFull (1 commit/step)", "steps/s", true, f.get("sync1.full"), w1, w1s},
		{"W1 step latency p50, 1 writer: Put+PutWrites", "µs", false, f.get("sync1.pw.p50"), p50, p50s},
		{"W1 step latency p99, 1 writer: Put+PutWrites", "µs", false, f.get("sync1.pw.p99"), p99, p99s},
		{"W1 step latency p50, 1 writer: PutFull", "µs", false, f.get("sync1.full.p50"), p50, p50s},
		{"W1 steps/s, " + W + " writers, durable: Put+PutWrites", "steps/s", true, f.get("syncN.pw"), wN, wNs},
		{"W1 steps/s, " + W + " writers, durable: PutFull", "steps/s", true, f.get("syncN.full"), wN, wNs},
		{"W1 steps/s, 1 writer, ckpt Async (Flush timed): Put+PutWrites", "steps/s", true, f.get("async1.pw"), w1, w1s},
		{"W1 steps/s, 1 writer, ckpt NoSync: Put+PutWrites", "steps/s", true, f.get("nosync1.pw"), w1, w1s},
		{"reference: raw bbolt, 1 put per durable tx (tx/s = steps/s)", "steps/s", true, f.get("raw"), w1, w1s},
		{"reference: fsync'd log append, 1 per step", "steps/s", true, f.get("append"), w1, w1s},
		{"file size after W1 (1 writer)", "bytes", false, f.get("file"), by, bys},
		{"disk used after W1 (allocated blocks)", "bytes", false, f.get("disk"), dFull, dShipped},
		{"bytes per stored step (file size / steps)", "bytes", false, f.get("file") / n, by / n, bys / n},
		{"R1 getTuple(latest) (values stay encoded)", "ops/s", true, f.get("r1"), nan, readFig("r1.ops_per_s")},
		{"R1 getTuple(latest) + decode messages", "ops/s", true, f.get("r1dec"), nan, readFig("r1.ops_per_s")},
		{"R2 getTuple(by id), random", "ops/s", true, f.get("r2"), nan, readFig("r2.ops_per_s")},
		{"R3 list(thread, limit 10)", "ops/s", true, f.get("r3"), nan, readFig("r3.ops_per_s")},
		{"R4 list(thread, filter node=tools)", "ops/s", true, f.get("r4"), nan, readFig("r4.ops_per_s")},
		{"R5 full history of one thread", "ms", false, f.get("r5"), nan, readFig("r5.ms")},
	}
}

// w1Targets checks the targets of issue 9 (against the peer) and issue 3
// (ckpt against itself and the raw limit).
func w1Targets(f w1Figures, p *peerReport) []target {
	var ts []target
	if p != nil {
		pfull := func(k string) float64 { return p.fig(k) }
		w1 := pfull("w1.full.puts_per_s.1w")
		var wN float64 = nan
		for k := range p.Figures {
			if strings.HasPrefix(k, "w1.full.puts_per_s.") && k != "w1.full.puts_per_s.1w" {
				wN = p.fig(k)
			}
		}
		ts = append(ts,
			target{"9", "durable steps/s, 1 writer, Put+PutWrites", f.get("sync1.pw") / w1, 1.5, false, "ckpt Sync / SqliteSaver FULL", false},
			target{"9", "durable steps/s, 1 writer, PutFull", f.get("sync1.full") / w1, 1.5, false, "ckpt Sync / SqliteSaver FULL", false},
			target{"9", "durable steps/s, concurrent writers (Put+PutWrites)", f.get("syncN.pw") / wN, 8, false, "ckpt Sync / SqliteSaver FULL, same writers", false},
			target{"9", "getTuple(latest) ops/s (R1)", f.get("r1") / p.fig("r1.ops_per_s"), 5, false, "ckpt / SqliteSaver", false},
			target{"9", "getTuple(latest) + decode ops/s (R1)", f.get("r1dec") / p.fig("r1.ops_per_s"), 5, false, "ckpt / SqliteSaver", false},
			target{"9", "getTuple(by id) ops/s (R2)", f.get("r2") / p.fig("r2.ops_per_s"), 5, false, "ckpt / SqliteSaver", false},
			target{"9", "list with a metadata filter ops/s (R4)", f.get("r4") / p.fig("r4.ops_per_s"), 5, false, "ckpt / SqliteSaver", false},
			target{"9", "file size after W1", f.get("file") / p.fig("w1.full.bytes"), 0.5, true, "ckpt / SqliteSaver", false},
			target{"9", "physical limit: fsync'd log append vs SqliteSaver FULL", f.get("append") / w1, 0, false, "fsync'd append / SqliteSaver FULL (issue: about 2.5x)", true},
			target{"9", "how far PutFull is from the log-append limit", f.get("sync1.full") / f.get("append"), 0, false, "ckpt PutFull / fsync'd append", true},
		)
	}
	ts = append(ts,
		target{"3", "Sync 1 writer vs raw limit (PutFull, 1 commit/step)", f.get("sync1.full") / f.get("raw"), 0.8, false, "ckpt PutFull steps/s / raw bbolt tx/s", false},
		target{"3", "Sync 1 writer vs raw limit (Put+PutWrites, per commit)", 2 * f.get("sync1.pw") / f.get("raw"), 0.8, false, "ckpt commits/s (2 per step) / raw bbolt tx/s", false},
		target{"3", "concurrent Sync writers vs 1 Sync writer (Put+PutWrites)", f.get("syncN.pw") / f.get("sync1.pw"), 8, false, "ckpt N writers / 1 writer", false},
		target{"3", "concurrent Sync writers vs 1 Sync writer (PutFull)", f.get("syncN.full") / f.get("sync1.full"), 8, false, "ckpt N writers / 1 writer", false},
		target{"3", "Async vs Sync, 1 writer (Put+PutWrites)", f.get("async1.pw") / f.get("sync1.pw"), 10, false, "ckpt Async / ckpt Sync", false},
	)
	return ts
}

// w2Targets checks issue 9's W2 flatness on ckpt: the figure at the last
// point against the one at step 100.
func w2Targets(r *w2Result) []target {
	first, last := r.at(w2Window), &r.points[len(r.points)-1]
	if first == nil || last.N == first.N {
		return nil
	}
	at := fmt.Sprintf("@%d / @%d", last.N, first.N)
	return []target{
		{"9", "W2 bytes per step flat", last.bytesPerStepWindow / first.bytesPerStepWindow, 1.5, true, "ckpt bytes/step " + at, false},
		{"9", "W2 put latency flat (put+writes p50)", last.stepP50 / first.stepP50, 1.5, true, "ckpt p50 " + at, false},
		{"9", "W2 getTuple(latest) growth (the state grows with the steps here)", last.getP50 / first.getP50, 0, true,
			"ckpt getTuple p50 " + at, true},
	}
}

// w2PeerPoints are the steps at which the peer measures W2: 100, 500,
// 1000, 2000, 5000, 10000 up to S, and S itself.
func w2PeerPoints(S int) []int {
	var use []int
	for _, p := range []int{100, 500, 1000, 2000, 5000, 10000} {
		if p <= S {
			use = append(use, p)
		}
	}
	if len(use) == 0 || use[len(use)-1] != S {
		use = append(use, S)
	}
	return use
}

// writeW2 prints ckpt's W2 figures at the peer's points, the peer's beside.
func writeW2(w io.Writer, r *w2Result, peers map[string]*peerW2) {
	use := w2PeerPoints(r.steps)
	modes := []string{}
	for _, m := range []string{"full", "shipped"} {
		if peers[m] != nil {
			modes = append(modes, m)
		}
	}
	head := []string{"step N", "figure", "unit", "ckpt"}
	right := []bool{true, false, false, true}
	for _, m := range modes {
		head = append(head, "SqliteSaver "+strings.ToUpper(m), "ckpt/"+strings.ToUpper(m))
		right = append(right, true, true)
	}
	var cells [][]string
	prevN, prevDisk := 0, int64(0)
	for _, n := range use {
		c := r.at(n)
		if c == nil {
			continue
		}
		sincePrev := float64(c.diskBytes-prevDisk) / float64(n-prevN)
		prevN, prevDisk = n, c.diskBytes
		type fig struct {
			label, unit string
			ckpt        float64
			peer        func(peerW2Point) float64
		}
		for _, f := range []fig{
			{"put+putWrites p50 (last 100 steps)", "µs", c.stepP50, func(p peerW2Point) float64 { return p.StepP50 }},
			{"put+putWrites p99 (last 100 steps)", "µs", c.stepP99, func(p peerW2Point) float64 { return p.StepP99 }},
			{"put only p50", "µs", c.putP50, func(p peerW2Point) float64 { return p.PutP50 }},
			{"put only p99", "µs", c.putP99, func(p peerW2Point) float64 { return p.PutP99 }},
			{"getTuple(latest) p50 of 10", "µs", c.getP50, func(p peerW2Point) float64 { return p.GetP50 }},
			{"getTuple(latest) + decode messages, p50 of 10", "µs", c.getDecP50, func(p peerW2Point) float64 { return p.GetP50 }},
			{"bytes per step since the previous point", "bytes", sincePrev, func(p peerW2Point) float64 { return p.PerStepPrev }},
			{"bytes per step, last 100 steps (ckpt only)", "bytes", c.bytesPerStepWindow, nil},
			{"file size (ckpt: disk used)", "bytes", float64(c.diskBytes), func(p peerW2Point) float64 { return p.FileBytes }},
		} {
			row := []string{strconv.Itoa(n), f.label, f.unit, num(f.ckpt, f.unit)}
			for _, m := range modes {
				v := nan
				if pp, ok := peers[m].point(n); ok && f.peer != nil {
					v = f.peer(pp)
				}
				row = append(row, num(v, f.unit), ratioStr(f.ckpt/v))
			}
			cells = append(cells, row)
		}
	}
	final := []string{strconv.Itoa(r.steps), "final file size (apparent)", "bytes", num(float64(r.fileBytes), "bytes")}
	for _, m := range modes {
		final = append(final, num(peers[m].Bytes, "bytes"), ratioStr(float64(r.fileBytes)/peers[m].Bytes))
	}
	cells = append(cells, final)
	mdTable(w, head, cells, right)
}

// machine describes the host: cores, memory, CPU, kernel, Go.
func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s), %s memory, %s/%s kernel %s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, kernel, runtime.Version())
}

// loadAvg returns /proc/loadavg's three averages, or "?": a sign of other
// work on the machine during the run.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func versions(v map[string]string) string {
	var parts []string
	for _, k := range []string{"@langchain/langgraph-checkpoint-sqlite", "@langchain/langgraph-checkpoint", "better-sqlite3", "@langchain/core", "node"} {
		if s, ok := v[k]; ok {
			parts = append(parts, k+" "+s)
		}
	}
	return strings.Join(parts, ", ")
}

func pragmas(p map[string]map[string]any) string {
	var parts []string
	for _, m := range []string{"shipped", "full"} {
		if x, ok := p[m]; ok {
			parts = append(parts, fmt.Sprintf("%s: journal_mode=%v synchronous=%v (%v), SQLite %v", m, x["journal_mode"], x["synchronous"], x["synchronous_name"], x["sqlite_version"]))
		}
	}
	return strings.Join(parts, "; ")
}
