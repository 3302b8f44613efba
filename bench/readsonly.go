package main

// --reads-only: W1's load (Sync, one writer, as the full run's) and the
// reads R1..R5 on it, --repeat times, each on a fresh file: the read
// figures alone, without the rest of the run.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ckpt-go/ckpt"
)

func readsOnly(ctx context.Context, cfg config, in *w1Input, dir string, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	fmt.Fprintf(out, "# ckpt: reads R1..R5 on W1\n\n- date: %s\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, Sync, 1 writer; %d R1 and R2 calls\n\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.reads)
	fmt.Fprintf(out, "| run | R1 µs/read | R1-decode µs/read | R2 µs/read | R1 Reader µs/read | R2 Reader µs/read | R3 ops/s | R4 ops/s | R5 ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var r1, r2, r1r, r2r []float64
	for rep := 1; rep <= cfg.repeat; rep++ {
		path := filepath.Join(dir, fmt.Sprintf("reads-r%d.db", rep))
		logf("ckpt: reads, run %d of %d: loading W1", rep, cfg.repeat)
		r, st, err := w1Load(ctx, path, in, ckpt.Sync, putThenWrites, 1, true)
		if err != nil {
			return err
		}
		rd, err := runReads(ctx, st, in, r.threads, cfg.reads)
		if err = errors.Join(err, st.Close()); err != nil {
			return err
		}
		if !cfg.keep {
			_ = os.Remove(path)
		}
		fmt.Fprintf(out, "| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f |\n", rep, 1e6/rd.r1, 1e6/rd.r1Decode, 1e6/rd.r2, 1e6/rd.r1Reader, 1e6/rd.r2Reader, rd.r3, rd.r4, rd.r5ms)
		r1, r2 = append(r1, 1e6/rd.r1), append(r2, 1e6/rd.r2)
		r1r, r2r = append(r1r, 1e6/rd.r1Reader), append(r2r, 1e6/rd.r2Reader)
	}
	fmt.Fprintf(out, "\nmedian R1 %.1f µs/read, R2 %.1f µs/read (through a Reader: %.1f, %.1f); load average (1/5/15 min) at start: %s; at end: %s; took %s\n",
		median(r1), median(r2), median(r1r), median(r2r), load0, loadAvg(), time.Since(started).Round(time.Second))
	return nil
}
