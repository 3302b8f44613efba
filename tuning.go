package ckpt

import (
	"os"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// tuning holds the limits that tests turn down to reach every paging and
// batching path, and the seams where they inject faults. Each store has
// its own (Options.tuning), so a test that changes them changes nothing
// for the tests running beside it: they can all call t.Parallel.
type tuning struct {
	// planLimit bounds the checkpoints planned for deletion at once, so a
	// plan over a huge thread holds bounded memory; the thread is planned
	// again until nothing is left to delete.
	planLimit int
	// maxBatchJobs bounds the threads gathered in one GC batch.
	maxBatchJobs int
	// namePage is how many thread names (or sweep marks) one read
	// transaction collects.
	namePage int
	// Import batches: a commit holds at most this many records or bytes.
	importBatchRecords int
	importBatchBytes   int
	// Upgrade steps: records rewritten, and records looked at, per
	// transaction.
	upgradeStepRecords int
	upgradeStepScan    int

	// syncLog is the write-ahead log's fsync.
	syncLog func(*os.File) error
	// commitBolt commits a bbolt write transaction of the commit loop or
	// the applier.
	commitBolt func(*bolt.Tx) error
	// beforeSend, if set, runs between an op's onQueue hook and its send
	// (tests widen that window).
	beforeSend func()
	// compactStage, if set, is called at each stage of a compaction:
	// "copying" (half the keys copied), "synced", "renamed", "swapped".
	compactStage func(stage string)
	// upgradeStepHook, if set, runs after each committed upgrade step.
	upgradeStepHook func(step int)
}

// defaultTuning is what a store runs with unless a test says otherwise.
func defaultTuning() tuning {
	return tuning{
		planLimit:          50_000,
		maxBatchJobs:       1000,
		namePage:           1000,
		importBatchRecords: 512,
		importBatchBytes:   4 << 20,
		upgradeStepRecords: 1024,
		upgradeStepScan:    16 * 1024,
		syncLog:            engine.Fdatasync,
		commitBolt:         (*bolt.Tx).Commit,
	}
}

// withDefaults fills what t leaves zero from defaultTuning.
func (t *tuning) withDefaults() tuning {
	d := defaultTuning()
	if t == nil {
		return d
	}
	r := *t
	if r.planLimit <= 0 {
		r.planLimit = d.planLimit
	}
	if r.maxBatchJobs <= 0 {
		r.maxBatchJobs = d.maxBatchJobs
	}
	if r.namePage <= 0 {
		r.namePage = d.namePage
	}
	if r.importBatchRecords <= 0 {
		r.importBatchRecords = d.importBatchRecords
	}
	if r.importBatchBytes <= 0 {
		r.importBatchBytes = d.importBatchBytes
	}
	if r.upgradeStepRecords <= 0 {
		r.upgradeStepRecords = d.upgradeStepRecords
	}
	if r.upgradeStepScan <= 0 {
		r.upgradeStepScan = d.upgradeStepScan
	}
	if r.syncLog == nil {
		r.syncLog = d.syncLog
	}
	if r.commitBolt == nil {
		r.commitBolt = d.commitBolt
	}
	return r
}
