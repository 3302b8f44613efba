package engine

import "os"

// raceRounds is the core package's raceRounds (race_rounds_test.go there)
// for the engine's single-goroutine hunts over bbolt files (one handle,
// one transaction at a time, no store goroutine beside it): def rounds
// without the race detector, race with it, where the detector can find
// nothing in them and every round costs several times its CPU. CI's plain
// command (.ci/run, README's test command) runs these tests by name with
// def rounds in every run; CKPT_RACE_FULL=1 keeps def under -race too.
func raceRounds(def, race int) int {
	if raceEnabled && os.Getenv("CKPT_RACE_FULL") == "" {
		return race
	}
	return def
}
