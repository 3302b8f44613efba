package main

import (
	"math"
	"slices"
	"time"
)

// micros converts a duration to microseconds.
func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// pct is the nearest-rank percentile of sorted values, as the peer computes
// it: sorted[ceil(p/100*n) - 1]. NaN for no values.
func pct(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(n, max(1, rank))-1]
}

// median is the nearest-rank p50 of unsorted values (not modified).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return pct(s, 50)
}
