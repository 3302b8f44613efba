package main

// Issue 13's "readers never block writers" as a figure: the p99 latency of
// Sync writes on the W1 store, once alone and once while long reads run
// beside them (a full Export streamed to a slow consumer, as a history
// browser or a backup does).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

const (
	// longReadSaves is how many Sync Saves each half times.
	longReadSaves = 400
	// slowWriteDelay is how long the slow consumer takes per write it is
	// handed (Export buffers 64 KiB): it keeps each of Export's read
	// transactions (one per thread) open for tens of milliseconds, far
	// longer than a Sync write takes.
	slowWriteDelay = 20 * time.Millisecond
)

// slowWriter takes what it is given slowly.
type slowWriter struct{ ctx context.Context }

func (w slowWriter) Write(p []byte) (int, error) {
	select {
	case <-time.After(slowWriteDelay):
		return len(p), nil
	case <-w.ctx.Done():
		return 0, w.ctx.Err()
	}
}

// syncDuringLongRead returns the p99 of Sync Saves without and with long
// reads beside them, in µs, and how many long-read transactions were open
// meanwhile (the second figure means nothing if none was).
func syncDuringLongRead(ctx context.Context, st *ckpt.Store, in *w1Input) (without, with float64, reads int, err error) {
	payload := strings.Repeat("x", in.P)
	saves := func(thread string) (float64, error) {
		lat := make([]float64, 0, longReadSaves)
		for i := range longReadSaves {
			t0 := time.Now()
			if _, err := st.Save(ctx, thread, map[string]any{"step": i, "msg": payload}, ckpt.Metadata{"step": i}); err != nil {
				return 0, err
			}
			lat = append(lat, micros(time.Since(t0)))
		}
		slices.Sort(lat)
		return pct(lat, 99), nil
	}
	if without, err = saves("longread-alone"); err != nil {
		return 0, 0, 0, err
	}

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var readErr error
	var exported int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for rctx.Err() == nil {
			sum, err := st.Export(rctx, slowWriter{rctx}, ckpt.ExportOptions{})
			exported += int64(sum.Threads)
			if err != nil && rctx.Err() == nil {
				readErr = err
				return
			}
		}
	}()
	// Let the first read transaction open before timing.
	time.Sleep(2 * slowWriteDelay)
	with, err = saves("longread-beside")
	stop()
	wg.Wait()
	if err != nil {
		return 0, 0, 0, err
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return 0, 0, 0, fmt.Errorf("long read: %w", readErr)
	}
	return without, with, int(exported), nil
}
