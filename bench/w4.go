package main

// W4 "scale" (WORKLOAD.md, issue 18): W1's step shape at T = 2,000 threads
// by S = 500 steps (one million checkpoints), loaded by --writers Sync
// writers, each owning T/writers threads. Then: the file's size; Open with
// everything applied and with a log to replay (w4open.go, in a child
// process: cold page cache where the machine allows, and RSS); R1-R4
// latencies against the same on W1 (w4reads.go); GC to the latest 5 per
// thread beside Sync writers, and compaction (w4gc.go). The figures are
// laid out in w4report.go. This file holds the load and the order of it
// all.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w4Keep is what GC keeps of each thread (the workload's "latest 5").
const w4Keep = 5

// w4Result is everything W4 reports.
type w4Result struct {
	T, S, writers int

	loadSeconds           float64
	loadStepsPerS         float64
	firstTenth, lastTenth float64 // steps/s over the first and the last 10% of the load
	fileBytes, diskBytes  int64   // after the load (closed: everything applied)
	open                  *w4OpenFigures
	w1Reads, w4Reads      *latReads
	w1T, w1S              int
	// lenReads are the reads on a store of W1's thread count at W4's
	// thread length (w1T x S): the same states as W4's, so that W4
	// against it measures only how many other threads and checkpoints
	// the store holds (W4 against W1 also reads states S/w1S times
	// larger). nil when S <= w1S.
	lenReads               *latReads
	gc                     *w4GCResult
	peer                   *peerReport // nil without --peer
	peerT, peerS           int
	cold                   bool // the Open figures started from a dropped page cache
	coldWhy                string
	checkpointsAfterGC     int // checkpoints of the W4 threads left (want T*5)
	checkpointsAfterGCWant int
}

// runW4 runs W4 in dir; in is W1's input (the reads on W1 are measured
// here too, on a store of their own, for the comparison).
func runW4(ctx context.Context, cfg config, w1in *w1Input, dir string, pr *peer, peerDir string, logf func(string, ...any)) (_ *w4Result, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if !cfg.keep {
			err = errors.Join(err, os.RemoveAll(dir))
		}
	}()
	r := &w4Result{T: cfg.w4T, S: cfg.w4S, writers: min(cfg.writers, cfg.w4T), w1T: w1in.T, w1S: w1in.S}
	logf("W4: generating the input (%d threads x %d steps)", cfg.w4T, cfg.w4S)
	in := buildW1Input(cfg.w4T, cfg.w4S, cfg.P, cfg.C, cfg.reads)
	path := filepath.Join(dir, "w4.db")

	logf("W4: loading %d checkpoints, %d Sync writers (Put+PutWrites)", cfg.w4T*cfg.w4S, r.writers)
	threads, err := w4Load(ctx, path, in, r, logf)
	if err != nil {
		return nil, fmt.Errorf("W4 load: %w", err)
	}
	if r.fileBytes, r.diskBytes, err = fileSizes(path); err != nil {
		return nil, err
	}
	logf("W4: loaded in %.0f s (%.0f steps/s; first 10%% %.0f, last 10%% %.0f); file %.2f GB",
		r.loadSeconds, r.loadStepsPerS, r.firstTenth, r.lastTenth, float64(r.fileBytes)/1e9)

	if r.open, err = measureW4Open(ctx, cfg, path, in, threads, r.writers, logf); err != nil {
		return nil, fmt.Errorf("W4 open: %w", err)
	}
	r.cold, r.coldWhy = r.open.cold, r.open.coldWhy

	// Reads: W1 on a store of its own, then W4, one after the other so
	// both see the machine about the same.
	logf("W4: W1 store for the read comparison (%d threads x %d steps, %d Sync writers)", w1in.T, w1in.S, r.writers)
	w1path := filepath.Join(dir, "w1.db")
	w1load, w1st, err := w1Load(ctx, w1path, w1in, ckpt.Sync, putThenWrites, r.writers, true)
	if err != nil {
		return nil, fmt.Errorf("W4: the W1 store: %w", err)
	}
	defer func() { err = errors.Join(err, w1st.Close()) }()
	sides := []*readSide{{st: w1st, in: w1in, th: w1load.threads, sameS: w1in.S, name: "W1"}}
	if cfg.w4S > w1in.S {
		// W1's threads at W4's length: R1 on W4 returns states of S
		// messages, on W1 of w1S; this store's are W4's.
		lin := buildW1Input(w1in.T, cfg.w4S, cfg.P, cfg.C, cfg.reads)
		logf("W4: a store of W1's threads at W4's length for the read comparison (%d threads x %d steps, %d Sync writers)", lin.T, lin.S, r.writers)
		lload, lst, lerr := w1Load(ctx, filepath.Join(dir, "long.db"), lin, ckpt.Sync, putThenWrites, r.writers, true)
		if lerr != nil {
			return nil, fmt.Errorf("W4: the store of W1's threads at W4's length: %w", lerr)
		}
		defer func() { err = errors.Join(err, lst.Close()) }()
		sides = append(sides, &readSide{st: lst, in: lin, th: lload.threads, sameS: w1in.S, name: fmt.Sprintf("%dx%d", lin.T, lin.S)})
	}
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	// The Open figures may have dropped the page cache: the reads are
	// measured warm, after one read of the whole file (and an untimed
	// pass of every read, in interleavedReads, for the process's map).
	if err := readWhole(path); err != nil {
		return nil, err
	}
	sides = append(sides, &readSide{st: st, in: in, th: threads, sameS: w1in.S, name: "W4"})
	logf("W4: R1-R4 latencies on %d stores, taking turns (%d rounds, after an untimed pass)", len(sides), w4ReadRounds)
	lr, err := interleavedReads(ctx, sides, w4ReadRounds, func(untimed bool, sd *readSide) {
		what := "timed"
		if untimed {
			what = "untimed first pass"
		}
		for _, line := range sd.readCosts() {
			logf("W4 reads, %s: %s", what, line)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("W4: reads: %w", err)
	}
	r.w1Reads, r.w4Reads = lr[0], lr[len(lr)-1]
	if len(lr) == 3 {
		r.lenReads = lr[1]
	}

	if r.gc, err = w4GC(ctx, st, cfg, r.writers, logf); err != nil {
		return nil, fmt.Errorf("W4: GC: %w", err)
	}
	r.checkpointsAfterGCWant = cfg.w4T * min(cfg.w4S, w4Keep)
	for t := range threads {
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: threads[t].id}) {
			if err != nil {
				return nil, err
			}
			r.checkpointsAfterGC++
		}
	}
	if r.checkpointsAfterGC != r.checkpointsAfterGCWant {
		return nil, fmt.Errorf("W4: %d checkpoints of the W4 threads left after GC and compaction, want %d", r.checkpointsAfterGC, r.checkpointsAfterGCWant)
	}

	if pr != nil {
		if err := w4PeerAnchor(ctx, cfg, r, pr, peerDir, logf); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// w4Load loads W4 into a fresh Sync store at path: writer w owns the
// threads t with t%writers == w and, for each step, walks them in order
// (W1's concurrent split). The rate over the first and the last tenth of
// the load comes from the moments the 10% and 90% steps complete. The store
// is closed at the end (everything applied).
func w4Load(ctx context.Context, path string, in *w1Input, r *w4Result, logf func(string, ...any)) ([]thread, error) {
	_ = os.Remove(path)
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return nil, err
	}
	threads := newThreads(in)
	n := in.T * in.S
	writers := r.writers
	n10, n90 := max(1, n/10), n-max(1, n/10)
	var done atomic.Int64
	var t10, t90 atomic.Int64 // unix ns
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	progress := max(n/20, 1)
	t0 := time.Now()
	for w := range writers {
		wg.Go(func() {
			for s := range in.S {
				for t := w; t < in.T; t += writers {
					if _, err := doStep(ctx, st, in, &threads[t], t, s, putThenWrites); err != nil {
						errs[w] = err
						cancel()
						return
					}
					switch d := done.Add(1); {
					case d == int64(n10):
						t10.Store(time.Now().UnixNano())
					case d == int64(n90):
						t90.Store(time.Now().UnixNano())
					case d%int64(progress) == 0:
						logf("W4: %d of %d steps (%.0f steps/s so far)", d, n, float64(d)/time.Since(t0).Seconds())
					}
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()
	if err := errors.Join(errors.Join(errs...), st.Close()); err != nil {
		return nil, err
	}
	r.loadSeconds = end.Sub(t0).Seconds()
	r.loadStepsPerS = float64(n) / r.loadSeconds
	r.firstTenth = float64(n10) / time.Unix(0, t10.Load()).Sub(t0).Seconds()
	r.lastTenth = float64(n-n90) / end.Sub(time.Unix(0, t90.Load())).Seconds()
	return threads, nil
}

// w4PeerAnchor runs the peer (SqliteSaver, shipped durability) on the first
// T x --w4-peer-steps checkpoints of W4: its W1 workload at that size, the
// same writers, and its reads R1-R5.
func w4PeerAnchor(ctx context.Context, cfg config, r *w4Result, pr *peer, peerDir string, logf func(string, ...any)) error {
	r.peerT, r.peerS = cfg.w4T, min(cfg.w4Peer, cfg.w4S)
	pin := buildW1Input(r.peerT, r.peerS, cfg.P, cfg.C, 10000)
	sum, err := pr.checksum(ctx, pin)
	if err != nil {
		return err
	}
	if want := pin.checksum(); sum != want {
		return fmt.Errorf("%w: W4 anchor input sha256 is %s for ckpt and %s for the peer", errPeerInput, want, sum)
	}
	logf("peer: W4 anchor, SqliteSaver shipped, %d threads x %d steps (1 and %d writers), reads", r.peerT, r.peerS, r.writers)
	d := filepath.Join(peerDir, "w4")
	r.peer, err = pr.run(ctx, "--workload", "w1", "--threads", strconv.Itoa(r.peerT), "--steps", strconv.Itoa(r.peerS),
		"--payload", strconv.Itoa(cfg.P), "--context", strconv.Itoa(cfg.C), "--writers", strconv.Itoa(r.writers),
		"--durability", "shipped", "--dir", d)
	_ = os.RemoveAll(d)
	return err
}

// writeW4 prints W4's tables.
func writeW4(out io.Writer, r *w4Result) {
	fmt.Fprintf(out, "## W4: scale (%d threads x %d steps = %d checkpoints, %d Sync writers)\n\n", r.T, r.S, r.T*r.S, r.writers)
	writeFigures(out, w4Rows(r), r.peer != nil)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "### W4: reads against W1 (%d threads x %d steps), same run\n\n", r.w1T, r.w1S)
	writeW4Reads(out, r)
	fmt.Fprintln(out)
	if r.lenReads != nil {
		fmt.Fprintf(out, "### W4: reads against W1's %d threads at W4's %d steps (%s: the same states as W4's), same run\n\n", r.w1T, r.S, lenName(r))
		writeW4LenReads(out, r)
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "### W4: targets\n\n")
	writeTargets(out, w4Targets(r))
	fmt.Fprintln(out)
}

// writeW4Header prints the lines that say how W4's figures were taken.
func writeW4Header(out io.Writer, r *w4Result) {
	temp := "cold (page cache dropped before each)"
	if !r.cold {
		temp = "warm (" + r.coldWhy + ")"
	}
	fmt.Fprintf(out, "- W4: T=%d S=%d, %d Sync writers, Put+PutWrites per step; Open figures in a fresh child process, %s\n", r.T, r.S, r.writers, temp)
	if r.peer != nil {
		fmt.Fprintf(out, "- W4 anchor: SqliteSaver, shipped durability, on the first %d checkpoints (T=%d S=%d); %s\n", r.peerT*r.peerS, r.peerT, r.peerS, versions(r.peer.Versions))
	}
}

// readWhole reads the file at path once, so its pages are in the cache.
func readWhole(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
