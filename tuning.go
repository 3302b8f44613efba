package ckpt

import "github.com/ckpt-go/ckpt/internal/engine"

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
	// gcTxKeys bounds the keys one retention transaction changes (gc.go).
	gcTxKeys int
	// namePage is how many thread names (or sweep marks) one read
	// transaction collects.
	namePage int
	// Import batches: a commit holds at most this many records or bytes.
	importBatchRecords int
	importBatchBytes   int
	// exportSpoolMem is how much of one thread's dump Export holds in
	// memory before it spools the rest to a temporary file (export_spool.go).
	exportSpoolMem int
	// Upgrade steps: records rewritten, and records looked at, per
	// transaction.
	upgradeStepRecords int
	upgradeStepScan    int

	// hooks are the engine's fault seams (engine.Hooks: the log's fsync,
	// bbolt's commit, the window before a send, compaction's stages); zero fields keep the
	// engine's defaults.
	hooks engine.Hooks
	// upgradeStepHook, if set, runs after each committed upgrade step;
	// marked: the step was the format marker's write, the last one (the
	// only one of an upgrade from format 3).
	upgradeStepHook func(step int, marked bool)
	// linkFile, if set, replaces os.Link where BackupFile links its copy
	// into an absent destination (placeCopy): a filesystem without hard
	// links, or a crash right after the link.
	linkFile func(oldname, newname string) error
	// recoverStep, if set, runs at each step of RecoverLog (recover.go:
	// "opened", "read", "replay" inside the write transaction, before
	// the groups, "clear" for a file without its log, and "committed"
	// before the damaged log is moved aside; "mark", "repaired" and
	// "dropped" after the commits that repair the mark or the binding
	// alone, "moved" once the log is aside), where a test cuts the file
	// short or kills the process.
	recoverStep func(step string)
	// closeWaits, if set, runs when a Close finds another Close under way
	// and is about to wait for it to close the file (store.go), in the
	// waiting Close's goroutine: a test holds the first one until then.
	closeWaits func()
	// importBeforeLink, if set, runs in ImportFile once the new file is
	// closed and before it is moved into place: a test runs another
	// import into the same path there.
	importBeforeLink func()
	// importBeforeClose, if set, runs in ImportFile once Import returned
	// nil, before the new store is closed (tests fail the store there,
	// as a failed background apply does).
	importBeforeClose func(*Store)
	// importOpened, if set, runs in ImportFile once the new file is open
	// as a store, before ImportFile opens it a second time, by its path,
	// for its own descriptor (tests put a FIFO at the path there).
	importOpened func()
}

// defaultTuning is what a store runs with unless a test says otherwise.
func defaultTuning() tuning {
	return tuning{
		planLimit:          50_000,
		maxBatchJobs:       1000,
		gcTxKeys:           gcTxKeys,
		namePage:           1000,
		importBatchRecords: 512,
		importBatchBytes:   4 << 20,
		exportSpoolMem:     4 << 20,
		upgradeStepRecords: 1024,
		upgradeStepScan:    16 * 1024,
	}
}

// withDefaults fills what t leaves zero (or negative) from defaultTuning.
func (t *tuning) withDefaults() tuning {
	d := defaultTuning()
	if t == nil {
		return d
	}
	r := *t
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&r.planLimit, d.planLimit},
		{&r.maxBatchJobs, d.maxBatchJobs},
		{&r.gcTxKeys, d.gcTxKeys},
		{&r.namePage, d.namePage},
		{&r.importBatchRecords, d.importBatchRecords},
		{&r.importBatchBytes, d.importBatchBytes},
		{&r.exportSpoolMem, d.exportSpoolMem},
		{&r.upgradeStepRecords, d.upgradeStepRecords},
		{&r.upgradeStepScan, d.upgradeStepScan},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return r
}
