package ckpt

// Test-only seams for h146_chain_linux_test.go (package ckpt_test).

import (
	"os"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// WithFaultPoints returns opts whose log grows grow bytes at a time (0:
// the default) and whose fault points each call at first: "fsync" (the
// log's fsync), "commit" (a bbolt commit of the engine), "syncdir"
// (Compact's directory fsync) and "compact:<stage>". A non-nil error from
// at fails that call with it (the commit rolled back); at may also end
// the process there.
func WithFaultPoints(opts Options, grow int64, at func(point string) error) Options {
	opts.tuning = &tuning{hooks: engine.Hooks{
		LogGrow: grow,
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
			return tx.Commit()
		},
		SyncDir: func(dir string) error {
			if err := at("syncdir"); err != nil {
				return err
			}
			return engine.SyncDir(dir)
		},
		CompactStage: func(stage string) { _ = at("compact:" + stage) },
	}}
	return opts
}

// WithImportBeforeLink returns opts whose ImportFile calls f once the new
// file is closed, before it is moved into place.
func WithImportBeforeLink(opts Options, f func()) Options {
	if opts.tuning == nil {
		opts.tuning = &tuning{}
	}
	t := *opts.tuning
	t.importBeforeLink = f
	opts.tuning = &t
	return opts
}
