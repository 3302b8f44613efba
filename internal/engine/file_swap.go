package engine

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// replaceFile swaps the store's file for dst (Compact): replace (the
// rename) runs with every reader kept from the old handle; if it fails
// nothing changes. The caller closes old. Only a solo op calls it.
func (e *Engine) replaceFile(dst *bolt.DB, dstFile *os.File, replace func() error) (old *bolt.DB, err error) {
	e.dbMu.Lock() // no reader may use the old handle past this point
	defer e.dbMu.Unlock()
	// Pooled reads of the old handle end (idle ones now, those in use
	// when released), or the caller's Close of old would wait for them
	// forever.
	ss := e.snapshots()
	ss.Quiesce()
	defer ss.Resume()
	// The copy is of the file the store holds: overwritten in place, it
	// would carry another file's bytes on as the store's.
	if err := e.held.meta.check(); err != nil {
		return nil, e.fs.Fail(FailBolt, err)
	}
	if err := replace(); err != nil {
		return nil, err
	}
	old = e.db
	e.db, e.file = dst, dstFile
	e.held.db.Store(holdFile(dstFile, e.path, false))
	e.held.meta.reset(dst, dstFile)
	e.unsynced = false
	return old, nil
}
