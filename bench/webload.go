package main

// Issue 15's "browsing is harmless" as a figure: the p99 step latency of
// W1-shaped Sync writers (--writers of them, Put+PutWrites), once alone and
// once while a script loads the history browser's pages in a loop over
// HTTP (httptest): the threads page, a thread page, a checkpoint page and
// the stats page (whose figures read the whole file; the handler computes
// them at most every few seconds). The handler is the default one, so its
// admission gate (web.Options.MaxCPUShare, a tenth of a core) holds the
// script to its share: the figure is what a program mounting the browser
// gets. The pace of the script is printed (pages/s). A third half is the
// control: the same writers beside a goroutine that only burns CPU and
// never touches the store (a whole core: what an ungated page loop took on
// a machine with 2 cores).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// webLoadResult is one run of the figure.
type webLoadResult struct {
	alone, beside, cpu float64       // p99 step latency, µs
	pages              int64         // pages loaded while the writers ran
	browsed            time.Duration // how long the writers beside browsing ran
}

// pagesPerSec is the pace the script loaded pages at beside the writers.
func (r *webLoadResult) pagesPerSec() float64 {
	return float64(r.pages) / r.browsed.Seconds()
}

// syncBesideBrowsing runs W1 (in's T threads x S steps, writers Sync
// writers) three times on one fresh store at path, each time on new
// threads: alone, beside the CPU burner, then while pages of the first
// threads are loaded in a loop. Each run writes the same amount into a
// file that already holds the runs before it, so the browsing run is, if
// anything, the slower one for reasons that are not the reads.
func syncBesideBrowsing(ctx context.Context, path string, in *w1Input, writers int) (*webLoadResult, error) {
	_ = os.Remove(path)
	st, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.Sync})
	if err != nil {
		return nil, err
	}
	res, err := webLoad(ctx, st, in, writers)
	return res, errors.Join(err, st.Close())
}

func webLoad(ctx context.Context, st *ckpt.Store, in *w1Input, writers int) (*webLoadResult, error) {
	first, control, second := newThreads(in), newThreads(in), newThreads(in)
	for i := range second {
		control[i].id = "cpu-beside-" + control[i].id
		second[i].id = "browsed-beside-" + second[i].id
	}
	res := &webLoadResult{}
	var err error
	if res.alone, err = timedConcurrentLoad(ctx, st, in, first, writers); err != nil {
		return nil, err
	}
	if res.cpu, err = besideCPUBurner(ctx, st, in, control, writers); err != nil {
		return nil, err
	}

	srv := httptest.NewServer(web.Handler(st, web.Options{}))
	defer srv.Close()
	th := first[len(first)-1]
	pages := []string{
		"/",
		"/thread?t=" + url.QueryEscape(th.id),
		"/checkpoint?t=" + url.QueryEscape(th.id) + "&id=" + url.QueryEscape(th.ids[len(th.ids)/2]),
		"/stats",
	}
	// One check before timing: a broken page would make the figure
	// meaningless (an error page is cheap).
	for _, p := range pages {
		if err := loadPage(ctx, srv.Client(), srv.URL+p); err != nil {
			return nil, err
		}
	}
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var browseErr error
	var loaded atomic.Int64
	wg.Go(func() {
		for i := 0; bctx.Err() == nil; i++ {
			if err := loadPage(bctx, srv.Client(), srv.URL+pages[i%len(pages)]); err != nil {
				if bctx.Err() == nil {
					browseErr = err
				}
				return
			}
			loaded.Add(1)
		}
	})
	began := time.Now()
	res.beside, err = timedConcurrentLoad(ctx, st, in, second, writers)
	res.browsed = time.Since(began)
	stop()
	wg.Wait()
	res.pages = loaded.Load()
	if err != nil {
		return nil, err
	}
	if browseErr != nil {
		return nil, fmt.Errorf("browsing: %w", browseErr)
	}
	return res, nil
}

// besideCPUBurner times the writers beside one goroutine that computes and
// nothing else (the control).
func besideCPUBurner(ctx context.Context, st *ckpt.Store, in *w1Input, threads []thread, writers int) (float64, error) {
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sink atomic.Uint64
	wg.Go(func() {
		x := uint64(1)
		for bctx.Err() == nil {
			for range 100000 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
			}
		}
		sink.Store(x)
	})
	p99, err := timedConcurrentLoad(ctx, st, in, threads, writers)
	stop()
	wg.Wait()
	return p99, err
}

// loadPage gets a page and reads it to the end, as a browser would.
func loadPage(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// timedConcurrentLoad is concurrentLoad (Put+PutWrites) that also times
// every step, and returns the p99 in µs.
func timedConcurrentLoad(ctx context.Context, st *ckpt.Store, in *w1Input, threads []thread, writers int) (float64, error) {
	writers = min(writers, in.T)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	lats := make([][]float64, writers)
	for w := range writers {
		wg.Go(func() {
			for s := range in.S {
				for t := w; t < in.T; t += writers {
					a := time.Now()
					if _, err := doStep(ctx, st, in, &threads[t], t, s, putThenWrites); err != nil {
						errs[w] = err
						cancel()
						return
					}
					lats[w] = append(lats[w], micros(time.Since(a)))
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return pct(all, 99), nil
}

// webFigure adds one run of the figure to fig (a full run's repetition).
func webFigure(ctx context.Context, cfg config, in *w1Input, path string, fig w1Figures, logf func(string, ...any)) error {
	logf("ckpt: W1, %d Sync writers, alone and beside a script loading web pages", cfg.writers)
	r, err := syncBesideBrowsing(ctx, path, in, cfg.writers)
	if err != nil {
		return err
	}
	if !cfg.keep {
		_ = os.Remove(path)
	}
	logf("ckpt: %d pages loaded beside the timed writes (%.1f/s)", r.pages, r.pagesPerSec())
	fig.add("web.alone", r.alone)
	fig.add("web.beside", r.beside)
	fig.add("web.cpu", r.cpu)
	return nil
}

// webOnly runs just this figure --repeat times and prints every run, not
// only the median: on a shared machine the spread is part of the result.
func webOnly(ctx context.Context, cfg config, in *w1Input, dir string, out io.Writer, logf func(string, ...any)) error {
	started, load0 := time.Now().UTC(), loadAvg()
	fmt.Fprintf(out, "# ckpt: Sync writers beside browsing (issue 15)\n\n")
	fmt.Fprintf(out, "- date: %s\n- machine: %s\n", started.Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(out, "- W1: T=%d S=%d P=%d C=%d, %d Sync writers (Put+PutWrites), pages: threads, a thread, a checkpoint, stats\n\n", cfg.T, cfg.S, cfg.P, cfg.C, cfg.writers)
	fmt.Fprintf(out, "| run | step p99 alone (µs) | beside browsing (µs) | browsing / alone (want ≤ 1.5x) | control: beside a CPU burner (µs) | control / alone | browsing / control | pages loaded | pages/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fig := w1Figures{}
	var ratios, controls []float64
	for rep := 1; rep <= cfg.repeat; rep++ {
		logf("ckpt: web figure, run %d of %d", rep, cfg.repeat)
		r, err := syncBesideBrowsing(ctx, filepath.Join(dir, fmt.Sprintf("web-r%d.db", rep)), in, cfg.writers)
		if err != nil {
			return err
		}
		if !cfg.keep {
			_ = os.Remove(filepath.Join(dir, fmt.Sprintf("web-r%d.db", rep)))
		}
		fig.add("web.alone", r.alone)
		fig.add("web.beside", r.beside)
		fig.add("web.cpu", r.cpu)
		ratios = append(ratios, r.beside/r.alone)
		controls = append(controls, r.cpu/r.alone)
		fmt.Fprintf(out, "| %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.2fx | %d | %.1f |\n", rep, r.alone, r.beside, r.beside/r.alone, r.cpu, r.cpu/r.alone, r.beside/r.cpu, r.pages, r.pagesPerSec())
	}
	// Both summaries: the ratio of the medians is what the full run's
	// summary table shows; the median of the runs' own ratios pairs each
	// browsing half with the alone half of the same run and file.
	fmt.Fprintf(out, "\nmedians: browsing / alone %.2fx, control / alone %.2fx; median of the runs' ratios: browsing / alone %.2fx, control / alone %.2fx; load average (1/5/15 min) at start: %s; at end: %s; took %s\n",
		fig.get("web.beside")/fig.get("web.alone"), fig.get("web.cpu")/fig.get("web.alone"), median(ratios), median(controls), load0, loadAvg(), time.Since(started).Round(time.Second))
	return nil
}
