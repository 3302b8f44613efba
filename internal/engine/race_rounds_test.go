package engine

import (
	"os"
	"strconv"
	"testing"
)

// raceRounds is the core package's raceRounds (race_rounds_test.go there)
// for the engine's single-goroutine hunts over bbolt files (one handle,
// one transaction at a time, no store goroutine beside it): def rounds
// without the race detector, race with it, where the detector can find
// nothing in them and every round costs several times its CPU. CI's plain
// command (.ci/run, README's test command) runs these tests by name with
// def rounds in every run (wholeSweepsRun, whole_sweeps_test.go, lists
// them: a test that calls raceRounds must be there); CKPT_RACE_FULL=1
// keeps def under -race too.
func raceRounds(t *testing.T, def, race int) int {
	t.Helper()
	wholeSweepListed(t)
	if raceEnabled && os.Getenv("CKPT_RACE_FULL") == "" {
		return race
	}
	return def
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
