package ckpt

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The tests that sample under -race (raceSample, raceRounds) and the
// allocation counts, which the race detector's sync.Pool skews: CI's plain
// command, the README's third test command, runs exactly these, whole:
//
//	go test -timeout 45m . ./internal/engine/ -whole-sweeps
//
// The list lives here, not in the command line, so that the README's
// command stays readable and a sampled test cannot be left out of it:
// raceSample and raceRounds fail a test under -race that is not listed
// (wholeSweepListed). internal/engine keeps its own list (its
// race_rounds_test.go).
var wholeSweepsRun = `Allocations|^Test(` + strings.Join([]string{
	`LogEveryFlippedByte`,
	`Spec25FlippedByteInWrite(Keys|Branch)`,
	`Spec25DamagedWriteBucketHeader`,
	`TypedDecodeAgreesWithMsgpack`,
	`FastDecodeAgreesWithMsgpack`,
	`CutItemsAgreesWithItemsLen`,
	`LogEveryByteUnderMoreMasks`,
	`StoredRecordsEveryByteFlipped`,
	`LogTornOverAnEarlierPassKeepsEveryWrite`,
	`AFlipBesideARestoredOlderFileKeepsNoEarlierPass`,
	`H186MaintOverDamageKeeps`,
	`H175PointReadsOverADamagedBranchKey`,
	`H194SoundStoresPassTheWritePathCheck`,
	`H229DirectCycleFlips(ManyThreads|ReadExactOrCorrupt)`,
	`H145Recover(KilledAtEveryStep|OnAFullDisk)`,
	`LoweredMarkBesideAWrongLogServesNoWrongState`,
	`H186WriteThroughFlippedPageID`,
	`H231(ReadOnlyCycleFileWithALiveLog|EncryptedCycleFile|DamagedNestedRootIDCostsItsThreadOnly)`,
	`H237Logged(DeleteOfTheDamagedThread|DeleteThenSave|PruneAndCopy)`,
	`H239(OwnBucketPageFlipsCostTheirThreadOnly|VerifyNeverCallsAThreadSoundItDidNotCheck)`,
	`H195CutStoreNeverEmptied`,
	`H190WriteBesideADamagedPageIDKeepsTheFileReadable`,
	`GCCountHoldsOnSoundStores`,
	`H150ConcurrentCancelFaultHunt`,
	`H193NoFalseRefusalOnSoundStores`,
	`Import(KilledOrInterruptedIsAllOrNothing|OfMalformedDumpLeavesFileAsItWas)`,
	`ReadYourWritesWithPooledReads`,
	`RecoverLogOnADamagedPage`,
	`OverwriteLook(NeverFailsALiveStore|HoldsThroughRemapsAndReuse)`,
	`H242ListIDsBesideWritersAndGC`,
	`UnfinishedImportWithADamagedMarkIsNeverRead`,
	`H254ReadOnlyCallsOverPagesDamagedUnderTheHandle`,
	`FoldPastByteBounds`,
	`H164FlipThenMaintenance`,
	`MaintenanceOnHealthyStoresMeetsNoKeyOutOfOrder`,
}, "|") + `)$`

var wholeSweeps = flag.Bool("whole-sweeps", false, "run only the tests that sample under -race and the allocation counts, whole (CI's plain command; overrides -run)")

// ApplyWholeSweeps sets -test.run to the list when -whole-sweeps was
// given; TestMain (crash_test.go) calls it after flag.Parse.
func ApplyWholeSweeps() error {
	if !*wholeSweeps {
		return nil
	}
	return flag.Set("test.run", wholeSweepsRun)
}

// wholeSweepListed fails t, under -race, when its top-level test is not
// in the plain command's list: it would then run only sampled, in CI and
// in the README's command alike.
func wholeSweepListed(t *testing.T) {
	t.Helper()
	if !raceBuild || os.Getenv("CKPT_RACE_FULL") != "" {
		return
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	if !regexp.MustCompile(wholeSweepsRun).MatchString(top) {
		t.Errorf("%s samples under -race (raceSample, raceRounds) but is not in wholeSweepsRun (whole_sweeps_test.go): no command would run it whole", top)
	}
}
