package main

// Issue 16's backup figure on the W3 store: a hot BackupFile of the store
// W3 built (before it prunes), while 16 Sync writers go on saving, against
// the same writers over the same length of time just before the backup.
//
// The writers run throughout. Each Save is timed and stamped with its
// start; "during" is every Save that started while the backup ran,
// "without" every Save that started in the window of the backup's length
// that ends when the backup starts (the writers run alone for a lead-in
// long enough to hold that window). So both halves are the same writers on
// the same file for the same time, and nothing after the backup (the
// applier catching up) is counted in either.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w3BackupResult is the backup figure.
type w3BackupResult struct {
	seconds            float64 // BackupFile, call to return
	bytes              int64   // size of the copy
	windowSeconds      float64 // length of the "without" window (= seconds, unless the lead-in was shorter)
	nWithout, nDuring  int     // Saves that started in each window
	p99Without, p99Dur float64 // Save latency, ms
	maxWithout, maxDur float64
	checkpoints        int // checkpoints in the copy (at least the W3 load's)
	// Where the time goes, ms from the call: the first chunk written (the
	// snapshot taken), the last chunk written (then the fsync and rename).
	firstChunkMs, lastChunkMs float64
	// The slowest Save that started during the backup: when it started and
	// ended, ms from the backup's call; and how many Saves during the
	// backup took longer than the slowest without it.
	slowStartMs, slowEndMs float64
	nSlower                int
}

// timedSave is one writer's Save.
type timedSave struct {
	start time.Time
	dur   time.Duration
}

// w3BackupFigure backs the store st (at path) up into dir while writers
// Sync writers save W1-shaped steps on threads of their own.
func w3BackupFigure(ctx context.Context, st *ckpt.Store, in *w1Input, dir string, writers int, logf func(string, ...any)) (*w3BackupResult, error) {
	fi, err := os.Stat(st.Path())
	if err != nil {
		return nil, err
	}
	// The lead-in: twice the backup's expected time at 100 MB/s, at least
	// 3 s, so it holds a window of the backup's length.
	lead := max(3*time.Second, 2*time.Duration(float64(fi.Size())/100e6*float64(time.Second)))

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	saves := make([][]timedSave, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			t := w % in.T
			thread := backupWriterThread(w)
			for wctx.Err() == nil {
				for s := 0; s < in.S && wctx.Err() == nil; s++ {
					state := map[string]any{"messages": in.msgs[t][:s+1], "turn_count": s + 1}
					if s == 0 {
						state["context"] = in.ctx[t]
					}
					a := time.Now()
					_, err := st.Save(wctx, thread, state, ckpt.Metadata{"source": "loop", "step": s})
					if err != nil {
						if wctx.Err() == nil {
							errs[w] = err
						}
						return
					}
					saves[w] = append(saves[w], timedSave{a, time.Since(a)})
				}
			}
		})
	}
	fail := func(err error) (*w3BackupResult, error) {
		stop()
		wg.Wait()
		return nil, err
	}
	logf("W3: %d Sync writers alone for %s, then a backup of the %.0f MB store beside them", writers, lead.Round(time.Millisecond), float64(fi.Size())/1e6)
	select {
	case <-time.After(lead):
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	dst := filepath.Join(dir, "w3-backup.db")
	_ = os.Remove(dst)
	var firstChunk, lastChunk time.Time
	progress := ckpt.BackupProgress(func(written, total int64) {
		now := time.Now()
		if firstChunk.IsZero() {
			firstChunk = now
		}
		lastChunk = now
	})
	b0 := time.Now()
	if err := st.BackupFile(ctx, dst, progress); err != nil {
		return fail(fmt.Errorf("W3 backup: %w", err))
	}
	b1 := time.Now()
	stop()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("W3 backup writers: %w", err)
	}
	r := &w3BackupResult{seconds: b1.Sub(b0).Seconds()}
	w0 := b0.Add(-b1.Sub(b0))
	r.firstChunkMs = float64(firstChunk.Sub(b0).Microseconds()) / 1e3
	r.lastChunkMs = float64(lastChunk.Sub(b0).Microseconds()) / 1e3
	var without, during []float64
	var slowest timedSave
	for _, ws := range saves {
		for _, s := range ws {
			ms := float64(s.dur.Microseconds()) / 1e3
			switch {
			case !s.start.Before(b0) && s.start.Before(b1):
				during = append(during, ms)
				if s.dur > slowest.dur {
					slowest = s
				}
			case !s.start.Before(w0) && s.start.Before(b0):
				without = append(without, ms)
			}
		}
	}
	first := b0
	for _, ws := range saves {
		if len(ws) > 0 && ws[0].start.Before(first) {
			first = ws[0].start
		}
	}
	if first.After(w0) {
		w0 = first // the lead-in was shorter than the backup
	}
	r.windowSeconds = b0.Sub(w0).Seconds()
	slices.Sort(without)
	slices.Sort(during)
	r.nWithout, r.nDuring = len(without), len(during)
	r.p99Without, r.p99Dur = pct(without, 99), pct(during, 99)
	if len(without) > 0 {
		r.maxWithout = without[len(without)-1]
	}
	if len(during) > 0 {
		r.maxDur = during[len(during)-1]
		r.slowStartMs = float64(slowest.start.Sub(b0).Microseconds()) / 1e3
		r.slowEndMs = float64(slowest.start.Add(slowest.dur).Sub(b0).Microseconds()) / 1e3
	}
	for _, ms := range during {
		if ms > r.maxWithout {
			r.nSlower++
		}
	}
	bfi, err := os.Stat(dst)
	if err != nil {
		return nil, err
	}
	r.bytes = bfi.Size()
	// The copy is a store on its own: it opens and holds every checkpoint.
	cp, err := ckpt.Open(dst, ckpt.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("W3 backup: open the copy: %w", err)
	}
	for _, err := range cp.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			_ = cp.Close()
			return nil, fmt.Errorf("W3 backup: the copy: %w", err)
		}
		r.checkpoints++
	}
	if err := cp.Close(); err != nil {
		return nil, err
	}
	_ = os.Remove(dst)
	// The writers' threads go again, so the prune that follows sees the
	// W3 store as loaded (their pages are free space in the file).
	for w := range writers {
		if err := st.DeleteThread(ctx, backupWriterThread(w)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// backupWriterThread is writer w's thread: one each, its step going round
// W1's S steps (the list starts over every S saves).
func backupWriterThread(w int) string { return "backup-writer-" + strconv.Itoa(w) }
