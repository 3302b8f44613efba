package main

// W2 "long thread" on ckpt (WORKLOAD.md): one thread, S steps of W1's
// state, measured every 100 steps: put latency over the last 100 steps,
// getTuple(latest) latency just after, and how much the file grew.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w2Window is the number of steps each latency and growth window covers.
const w2Window = 100

// w2Point is the state of W2 just after step N.
type w2Point struct {
	N                  int
	stepP50, stepP99   float64 // put+putWrites over steps N-99..N, µs
	putP50, putP99     float64 // put only, µs
	getP50, getDecP50  float64 // getTuple(latest), p50 of 10, µs; and with the messages decoded
	fileBytes          int64   // apparent size
	diskBytes          int64   // disk used (pages written)
	bytesPerStepWindow float64 // disk growth per step over the last window
}

// w2Result is one W2 run.
type w2Result struct {
	steps     int
	seconds   float64 // put time only (measurements excluded)
	points    []w2Point
	fileBytes int64 // after close
	diskBytes int64
}

// at returns the point of step n, or nil.
func (r *w2Result) at(n int) *w2Point {
	for i := range r.points {
		if r.points[i].N == n {
			return &r.points[i]
		}
	}
	return nil
}

// runW2 writes S steps to one thread of a fresh Sync store at path.
func runW2(ctx context.Context, path string, in *w1Input) (*w2Result, error) {
	_ = os.Remove(path)
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	S := in.S
	th := newThreads(in)
	stepLat := make([]float64, S)
	putLat := make([]float64, S)
	res := &w2Result{steps: S}
	var prevDisk int64
	prevN := 0
	var putTime time.Duration
	for s := range S {
		a := time.Now()
		put, err := doStep(ctx, st, in, &th[0], 0, s, putThenWrites)
		if err != nil {
			return nil, err
		}
		d := time.Since(a)
		putTime += d
		stepLat[s], putLat[s] = micros(d), micros(put)
		done := s + 1
		if done%w2Window != 0 && done != S {
			continue
		}
		p, err := w2Measure(ctx, st, in, th[0].id, done, stepLat, putLat)
		if err != nil {
			return nil, err
		}
		p.bytesPerStepWindow = float64(p.diskBytes-prevDisk) / float64(done-prevN)
		prevDisk, prevN = p.diskBytes, done
		res.points = append(res.points, p)
	}
	res.seconds = putTime.Seconds()
	if err := st.Close(); err != nil {
		return nil, err
	}
	res.fileBytes, res.diskBytes, err = fileSizes(path)
	return res, err
}

// w2Measure takes the figures of the point just after step done.
func w2Measure(ctx context.Context, st *ckpt.Store, in *w1Input, thread string, done int, stepLat, putLat []float64) (w2Point, error) {
	p := w2Point{N: done}
	lo := max(0, done-w2Window)
	win := slices.Clone(stepLat[lo:done])
	slices.Sort(win)
	p.stepP50, p.stepP99 = pct(win, 50), pct(win, 99)
	win = slices.Clone(putLat[lo:done])
	slices.Sort(win)
	p.putP50, p.putP99 = pct(win, 50), pct(win, 99)

	var get, getDec []float64
	for range 10 {
		t0 := time.Now()
		if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: thread}); err != nil {
			return p, fmt.Errorf("W2 getTuple at %d: %w", done, err)
		}
		get = append(get, micros(time.Since(t0)))
	}
	for range 10 {
		t0 := time.Now()
		tup, err := st.GetTuple(ctx, ckpt.Config{ThreadID: thread})
		if err != nil {
			return p, fmt.Errorf("W2 getTuple at %d: %w", done, err)
		}
		var msgs []message
		if err := tup.Decode("messages", &msgs); err != nil {
			return p, fmt.Errorf("W2 getTuple at %d: %w", done, err)
		}
		getDec = append(getDec, micros(time.Since(t0)))
		if len(msgs) != done || msgs[done-1] != in.msgs[0][done-1] {
			return p, fmt.Errorf("W2 getTuple at %d: %d messages, not the ones written", done, len(msgs))
		}
	}
	p.getP50, p.getDecP50 = median(get), median(getDec)
	// The file holds what the applier has moved out of the write-ahead
	// log: move everything first, or the size lags the steps.
	if err := st.ApplyLog(ctx); err != nil {
		return p, err
	}
	var err error
	p.fileBytes, p.diskBytes, err = fileSizes(st.Path())
	return p, err
}
