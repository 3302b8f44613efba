package ckpt

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// raceRounds is huntRounds (hunt26_maint_kill_test.go) for the internal
// tests: def cases without the race detector, race with it. CI runs this
// package only under -race, where every case costs several times its CPU
// and the whole package must stay well within CI's time; the sweeps keep
// def cases in a plain `go test`, and CKPT_RACE_FULL=1 keeps them under
// -race too. A test that calls it must be in wholeSweepsRun
// (whole_sweeps_test.go), the plain command's list.
func raceRounds(t *testing.T, def, race int) int {
	t.Helper()
	wholeSweepListed(t)
	if raceBuild && os.Getenv("CKPT_RACE_FULL") == "" {
		return race
	}
	return def
}

// raceSample is how a single-goroutine sweep (one damaged copy opened and
// read at a time) samples its positions under -race: the detector finds
// only races between goroutines, so a sweep gains from it only what the
// store's own goroutines (the applier, the syncer) do beside each open,
// which a sample meets as well, at 5-10 times the CPU per position. It
// returns keep(i) for the i-th position of the sweep (from 0): every
// stride-th, from an offset drawn per run and logged, so successive CI
// runs cover other positions; CKPT_SWEEP_OFFSET=N replays a run's sample.
// Without -race, or with CKPT_RACE_FULL=1, keep is true for every
// position: CI's plain command (.ci/run, README's test command) runs these
// sweeps whole in every run, and a test that calls raceSample must be in
// its list (wholeSweepsRun, whole_sweeps_test.go).
func raceSample(t *testing.T, stride int) (keep func(i int) bool) {
	t.Helper()
	wholeSweepListed(t)
	return sampleUnderRace(t, stride)
}

// sampleUnderRace is raceSample for a sweep that samples in a plain run
// too (h226Sample), which the plain command's list leaves out.
func sampleUnderRace(t *testing.T, stride int) (keep func(i int) bool) {
	t.Helper()
	if !raceBuild || os.Getenv("CKPT_RACE_FULL") != "" || stride <= 1 {
		return func(int) bool { return true }
	}
	off := int(time.Now().UnixNano() % int64(stride))
	if v, err := strconv.Atoi(os.Getenv("CKPT_SWEEP_OFFSET")); err == nil {
		off = ((v % stride) + stride) % stride
	}
	t.Logf("under -race: every %dth position from %d (CKPT_SWEEP_OFFSET=%d replays it, CKPT_RACE_FULL=1 sweeps all; CI's plain command sweeps all)", stride, off, off)
	return func(i int) bool { return i%stride == off }
}

// huntSeed is the seed a hunt starts from: def (CI's sample, fixed so
// that a CI failure replays) unless the environment variable name gives
// another, for long runs over seeds CI never meets.
func huntSeed(name string, def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

// huntCount is a hunt's number of rounds: def unless the environment
// variable name gives another (above 0).
func huntCount(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
