package main

// The figures of a run laid out as rows and checked against the targets
// of issue 9 (against the peer) and issue 3 (ckpt against itself).

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

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
		{"reference: fsync'd log append, " + W + " writers, group commit", "steps/s", true, f.get("appendN"), wN, wNs},
		{"file size after W1 (1 writer)", "bytes", false, f.get("file"), by, bys},
		{"disk used after W1 (allocated blocks)", "bytes", false, f.get("disk"), dFull, dShipped},
		{"bytes per stored step (file size / steps)", "bytes", false, f.get("file") / n, by / n, bys / n},
		{"R1 getTuple(latest) (values stay encoded)", "ops/s", true, f.get("r1"), nan, readFig("r1.ops_per_s")},
		{"R1 getTuple(latest) + decode messages", "ops/s", true, f.get("r1dec"), nan, readFig("r1.ops_per_s")},
		{"R2 getTuple(by id), random", "ops/s", true, f.get("r2"), nan, readFig("r2.ops_per_s")},
		{"R1 with a Reader (opt-in: values valid until its next read)", "ops/s", true, f.get("r1reader"), nan, readFig("r1.ops_per_s")},
		{"R2 with a Reader (opt-in: values valid until its next read)", "ops/s", true, f.get("r2reader"), nan, readFig("r2.ops_per_s")},
		{"R3 list(thread, limit 10)", "ops/s", true, f.get("r3"), nan, readFig("r3.ops_per_s")},
		{"R4 list(thread, filter node=tools)", "ops/s", true, f.get("r4"), nan, readFig("r4.ops_per_s")},
		{"R5 full history of one thread", "ms", false, f.get("r5"), nan, readFig("r5.ms")},
		{"Sync Save p99 on the W1 store, alone (median of the pairs)", "µs", false, f.get("longread.alone"), nan, nan},
		{"Sync Save p99, beside long reads (Export to a slow consumer; median of the pairs)", "µs", false, f.get("longread.beside"), nan, nan},
		{"W1 step p99, " + W + " Sync writers, alone", "µs", false, f.get("web.alone"), nan, nan},
		{"W1 step p99, " + W + " Sync writers, beside a script loading web pages", "µs", false, f.get("web.beside"), nan, nan},
		{"W1 step p99, " + W + " Sync writers, beside a CPU burner (control)", "µs", false, f.get("web.cpu"), nan, nan},
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
			target{"18", "R1 through a Reader (opt-in block reuse)", f.get("r1reader") / p.fig("r1.ops_per_s"), 0, false, "ckpt Reader / SqliteSaver getTuple", true},
			target{"18", "R2 through a Reader (opt-in block reuse)", f.get("r2reader") / p.fig("r2.ops_per_s"), 0, false, "ckpt Reader / SqliteSaver getTuple", true},
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
		target{"3", "physical ceiling of N writers vs 1: group-committed log append", f.get("appendN") / f.get("append"), 0, false, "log append N writers / 1 writer (no store work)", true},
		target{"3", "Async vs Sync, 1 writer (Put+PutWrites)", f.get("async1.pw") / f.get("sync1.pw"), 10, false, "ckpt Async / ckpt Sync", false},
		target{"13", "Sync write p99 during a long read / without", f.get("longread.ratio"), 1.5, true, "median over interleaved pairs of Sync Save p99 beside long reads / alone", false},
		target{"15", "Sync writers' p99 while pages load in a loop / without", f.get("web.beside") / f.get("web.alone"), 1.5, true, "W1 step p99 beside browsing / alone", false},
		target{"15", "the same beside a CPU burner instead (control: CPU sharing alone)", f.get("web.cpu") / f.get("web.alone"), 0, true, "W1 step p99 beside a CPU burner / alone", true},
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
