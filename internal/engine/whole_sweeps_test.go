package engine

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The engine's share of CI's plain command (the core package's
// whole_sweeps_test.go says why it exists): its allocation count and the
// hunts over sound bbolt files that run fewer seeds under -race
// (raceRounds), whole.
var wholeSweepsRun = `Allocations|^Test(` + strings.Join([]string{
	`H188WalkHuntSound`,
	`H188PageBoundHuntSound`,
	`H194WritePathNeverRefusesASoundStore`,
}, "|") + `)$`

var wholeSweeps = flag.Bool("whole-sweeps", false, "run only the tests that sample under -race and the allocation counts, whole (CI's plain command; overrides -run)")

func TestMain(m *testing.M) {
	flag.Parse()
	if *wholeSweeps {
		if err := flag.Set("test.run", wholeSweepsRun); err != nil {
			fmt.Fprintln(os.Stderr, "-whole-sweeps:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// wholeSweepListed fails t, under -race, when its top-level test is not
// in the plain command's list: it would then run only sampled.
func wholeSweepListed(t *testing.T) {
	t.Helper()
	if !raceEnabled || os.Getenv("CKPT_RACE_FULL") != "" {
		return
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	if !regexp.MustCompile(wholeSweepsRun).MatchString(top) {
		t.Errorf("%s samples under -race (raceRounds) but is not in wholeSweepsRun (whole_sweeps_test.go): no command would run it whole", top)
	}
}
