package ckpt

// Test-only seam for h192_combo_linux_test.go (package ckpt_test).

import (
	"os"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// WithH192Faults returns opts whose fault points each call at first:
// "fsync" (the log's fsync), "commit" (a bbolt commit of the engine,
// before it: rolled back), "commit-after" (after it: every byte landed),
// "syncdir" (Compact's directory fsync), "compact:<stage>" and
// "recover:<step>" (RecoverLog's steps). A non-nil error from at fails
// that call with it (a commit rolled back first, as bbolt does when a
// write finds no room); at may also end the process there. Imports
// commit importBatch records at a time (0: the default), so that an
// import spans several commits.
func WithH192Faults(opts Options, importBatch int, at func(point string) error) Options {
	opts.tuning = &tuning{
		importBatchRecords: importBatch,
		recoverStep:        func(step string) { _ = at("recover:" + step) },
		hooks: engine.Hooks{
			SyncLog: func(f *os.File) error {
				if err := at("fsync"); err != nil {
					return err
				}
				return engine.Fdatasync(f)
			},
			CommitBolt: func(tx *bolt.Tx) error {
				if err := at("commit"); err != nil {
					_ = tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				// A commit whose every byte landed, reported failed: as
				// bbolt reports a meta page's failed fsync (the page is
				// in the page cache, and the file's next read sees it).
				return at("commit-after")
			},
			SyncDir: func(dir string) error {
				if err := at("syncdir"); err != nil {
					return err
				}
				return engine.SyncDir(dir)
			},
			CompactStage: func(stage string) { _ = at("compact:" + stage) },
		},
	}
	return opts
}
