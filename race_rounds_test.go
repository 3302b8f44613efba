package ckpt

import "os"

// raceRounds is huntRounds (hunt26_maint_kill_test.go) for the internal
// tests: def cases without the race detector, race with it. CI runs this
// package only under -race, where every case costs several times its CPU
// and the whole package must stay well within CI's time; the sweeps keep
// def cases in a plain `go test`, and CKPT_RACE_FULL=1 keeps them under
// -race too.
func raceRounds(def, race int) int {
	if raceBuild && os.Getenv("CKPT_RACE_FULL") == "" {
		return race
	}
	return def
}
