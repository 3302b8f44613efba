package main

// W4's figures as rows (with the peer's anchor beside, in the "shipped"
// column), its reads against W1, and issue 18's W4 targets.

import (
	"fmt"
	"io"
	"strconv"
)

// w4Rows lays out W4's figures. The peer's figures, when it ran, are its
// W1 workload on the first peerT x peerS checkpoints of W4.
func w4Rows(r *w4Result) []row {
	n := float64(r.T * r.S)
	W := strconv.Itoa(r.writers)
	pf := func(k string) float64 {
		if r.peer == nil {
			return nan
		}
		return r.peer.fig(k)
	}
	pn := float64(r.peerT * r.peerS)
	o, g := r.open, r.gc
	temp := "warm"
	if r.cold {
		temp = "cold"
	}
	mb := func(v float64) float64 { return v * 1e6 }
	peerNote, r4Note := "", ""
	if r.peer != nil {
		peerNote = fmt.Sprintf(" (peer: its first %d)", r.peerT*r.peerS)
		r4Note = fmt.Sprintf(" (peer: %d)", r.peerS/2)
	}
	rows := []row{
		{"load steps/s, " + W + " Sync writers, Put+PutWrites" + peerNote, "steps/s", true, r.loadStepsPerS, nan, pf("w1.shipped.puts_per_s." + W + "w")},
		{"load steps/s over the first 10% of the load", "steps/s", true, r.firstTenth, nan, nan},
		{"load steps/s over the last 10% of the load", "steps/s", true, r.lastTenth, nan, nan},
		{"load time", "s", false, r.loadSeconds, nan, nan},
		{"file size after the load", "bytes", false, float64(r.fileBytes), nan, nan},
		{"disk used after the load (allocated blocks)", "bytes", false, float64(r.diskBytes), nan, nan},
		{"bytes per checkpoint (file size / checkpoints)", "bytes", false, float64(r.fileBytes) / n, nan, pf("w1.shipped.bytes") / pn},
		{"page walk alone (precheck.go), " + temp, "ms", false, o.walkMs, nan, nan},
		{"Open, everything applied, " + temp + " (includes the page walk)", "ms", false, o.openMs, nan, nan},
		{"page walk alone, warm", "ms", false, o.walkWarmMs, nan, nan},
		{"Open, everything applied, warm", "ms", false, o.openWarmMs, nan, nan},
		{fmt.Sprintf("Open after a crash with a log of %.1f MB (%d groups), %s", float64(o.replayLogBytes)/1e6, o.logGroups, temp), "ms", false, o.replayOpenMs, nan, nan},
		{"groups that Open replayed (bbolt lacked them)", "count", false, float64(o.replayGroups), nan, nan},
		{"RSS of a fresh process before Open", "bytes", false, mb(o.rssBase), nan, nan},
		{"RSS after Open", "bytes", false, mb(o.rssOpen), nan, nan},
		{fmt.Sprintf("RSS after %d random getTuple(thread, id)", o.rssCalls), "bytes", false, mb(o.rssReads), nan, nan},
		{"  of which anonymous (the rest: the file's mapped pages)", "bytes", false, mb(o.rssReadsAnon), nan, nan},
		{"R1 getTuple(latest) (values stay encoded; reads: warm page cache)", "ops/s", true, r.w4Reads.r1.opsPerS, nan, pf("r1.ops_per_s")},
		{"R2 getTuple(by id), random", "ops/s", true, r.w4Reads.r2.opsPerS, nan, pf("r2.ops_per_s")},
		{"R3 list(thread, limit 10)", "ops/s", true, r.w4Reads.r3.opsPerS, nan, pf("r3.ops_per_s")},
		{fmt.Sprintf("R4 list(thread, filter node=tools): %d per call%s", r.S/2, r4Note), "ops/s", true, r.w4Reads.r4.opsPerS, nan, pf("r4.ops_per_s")},
		{fmt.Sprintf("GC to the latest %d per thread, %s Sync writers beside", w4Keep, W), "s", false, g.gcSeconds, nan, nan},
		{"checkpoints GC removed", "count", false, float64(g.removed), nan, nan},
		{fmt.Sprintf("writers' step p50, alone (%d steps in %.1f s before GC)", g.aloneSteps, g.aloneSeconds), "µs", false, g.aloneP50, nan, nan},
		{fmt.Sprintf("writers' step p50, beside GC (%d steps)", g.besideSteps), "µs", false, g.besideP50, nan, nan},
		{"writers' step p99, alone", "µs", false, g.aloneP99, nan, nan},
		{"writers' step p99, beside GC", "µs", false, g.besideP99, nan, nan},
		{"file size after GC (writers' threads deleted, log applied)", "bytes", false, g.bytesAfterGC, nan, nan},
		{"compaction", "s", false, g.compactSeconds, nan, nan},
		{"file size after compaction", "bytes", false, g.bytesAfterCompact, nan, nan},
		{fmt.Sprintf("checkpoints of the W4 threads left (want %d)", r.checkpointsAfterGCWant), "count", false, float64(r.checkpointsAfterGC), nan, nan},
	}
	return rows
}

// writeW4Reads prints R1-R4 p50/p99 on W1 and W4 with their ratios.
func writeW4Reads(w io.Writer, r *w4Result) {
	a, b := r.w1Reads, r.w4Reads
	writeReadsAgainst(w, "W1", []readsFig{
		{"R1 getTuple(latest)", a.r1, b.r1},
		{"R2 getTuple(by id), random", a.r2, b.r2},
		{"R3 list(thread, limit 10)", a.r3, b.r3},
		{fmt.Sprintf("R4 list(filter node=tools), per call (W1: %d, W4: %d checkpoints)", r.w1S/2, r.S/2), a.r4, b.r4},
		{"R4 per checkpoint returned", a.r4Item, b.r4Item},
		{fmt.Sprintf("R2 by id, steps below %d (W1's sizes on both)", r.w1S), a.r2Same, b.r2Same},
		{fmt.Sprintf("R3 list 10 before step %d (W1's sizes on both)", r.w1S), a.r3Same, b.r3Same},
	})
}

// writeW4LenReads prints R1-R4 p50/p99 on W1's threads at W4's length
// and on W4 with their ratios: the same reads of the same states, on a
// store of w1T threads and on one of T.
func writeW4LenReads(w io.Writer, r *w4Result) {
	a, b := r.lenReads, r.w4Reads
	writeReadsAgainst(w, lenName(r), []readsFig{
		{"R1 getTuple(latest)", a.r1, b.r1},
		{"R2 getTuple(by id), random", a.r2, b.r2},
		{"R3 list(thread, limit 10)", a.r3, b.r3},
		{fmt.Sprintf("R4 list(filter node=tools), per call (%d checkpoints on both)", r.S/2), a.r4, b.r4},
	})
}

// lenName names the store of W1's threads at W4's length.
func lenName(r *w4Result) string { return fmt.Sprintf("%dx%d", r.w1T, r.S) }

// readsFig is one read on a reference store and on W4.
type readsFig struct {
	label   string
	ref, w4 latFig
}

// writeReadsAgainst prints figs as a table of W4 against the store named
// ref.
func writeReadsAgainst(w io.Writer, ref string, figs []readsFig) {
	var cells [][]string
	for _, f := range figs {
		cells = append(cells, []string{f.label, strconv.Itoa(f.ref.calls), strconv.Itoa(f.w4.calls),
			num(f.ref.p50, "µs"), num(f.w4.p50, "µs"), ratioStr(f.w4.p50 / f.ref.p50),
			num(f.ref.p99, "µs"), num(f.w4.p99, "µs"), ratioStr(f.w4.p99 / f.ref.p99)})
	}
	mdTable(w, []string{"read (µs)", "calls " + ref, "calls W4", ref + " p50", "W4 p50", "W4/" + ref, ref + " p99", "W4 p99", "W4/" + ref},
		cells, []bool{false, true, true, true, true, true, true, true, true})
}

// w4Targets checks issue 18's W4 target (reads within 1.5x of W1) and
// reports the other W4 ratios. R4 returns S/2 checkpoints a call, ten
// times as many on W4 as on W1: its target is checked per checkpoint
// returned, and its per-call ratio reported.
func w4Targets(r *w4Result) []target {
	a, b := r.w1Reads, r.w4Reads
	var ts []target
	for _, f := range []struct {
		name   string
		w1, w4 latFig
	}{{"R1", a.r1, b.r1}, {"R2", a.r2, b.r2}, {"R3", a.r3, b.r3}, {"R4 per checkpoint returned", a.r4Item, b.r4Item},
		{"R2 at W1's sizes", a.r2Same, b.r2Same}, {"R3 at W1's sizes", a.r3Same, b.r3Same}} {
		ts = append(ts,
			target{"18", f.name + " p50 on W4 within 1.5x of W1", f.w4.p50 / f.w1.p50, 1.5, true, "W4 p50 / W1 p50", false},
			target{"18", f.name + " p99 on W4 within 1.5x of W1", f.w4.p99 / f.w1.p99, 1.5, true, "W4 p99 / W1 p99", false})
	}
	if c := r.lenReads; c != nil {
		// W4 against W1's threads at W4's length: the same states, only
		// the store's size differs (issue 18: "a B+tree lookup must not
		// care how many other threads and checkpoints exist").
		ref := lenName(r)
		for _, f := range []struct {
			name    string
			ref, w4 latFig
		}{{"R1", c.r1, b.r1}, {"R2", c.r2, b.r2}, {"R3", c.r3, b.r3}} {
			ts = append(ts,
				target{"18", f.name + " p50 on W4 within 1.5x of " + ref + " (same states)", f.w4.p50 / f.ref.p50, 1.5, true, "W4 p50 / " + ref + " p50", false},
				target{"18", f.name + " p99 on W4 within 1.5x of " + ref + " (same states)", f.w4.p99 / f.ref.p99, 1.5, true, "W4 p99 / " + ref + " p99", false})
		}
	}
	ts = append(ts,
		target{"18", "R4 per call (returns S/2 checkpoints)", b.r4.p50 / a.r4.p50, 0, true, "W4 p50 / W1 p50", true},
		target{"18", "load rate, last 10% / first 10%", r.lastTenth / r.firstTenth, 0, false, "steps/s", true},
		target{"18", "Sync writers' p99 beside GC / alone", r.gc.besideP99 / r.gc.aloneP99, 0, true, "step p99", true},
		target{"18", "Open page walk / Open (everything applied)", r.open.walkMs / r.open.openMs, 0, true, "ms / ms, same page cache state", true},
	)
	if r.peer != nil {
		ts = append(ts,
			target{"18", "W4 R1 vs SqliteSaver on the first " + strconv.Itoa(r.peerT*r.peerS), b.r1.opsPerS / r.peer.fig("r1.ops_per_s"), 0, false, "ckpt ops/s / SqliteSaver shipped", true},
			target{"18", "W4 R2 vs SqliteSaver on the first " + strconv.Itoa(r.peerT*r.peerS), b.r2.opsPerS / r.peer.fig("r2.ops_per_s"), 0, false, "ckpt ops/s / SqliteSaver shipped", true},
			target{"18", "W4 R3 vs SqliteSaver on the first " + strconv.Itoa(r.peerT*r.peerS), b.r3.opsPerS / r.peer.fig("r3.ops_per_s"), 0, false, "ckpt ops/s / SqliteSaver shipped", true},
		)
	}
	return ts
}
