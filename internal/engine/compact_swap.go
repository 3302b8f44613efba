package engine

// A failed fsync of the directory after Compact's rename. The rename is
// done (every read of the path finds the new file), but it may never be
// durable: after a failed writeback the kernel need not write the
// directory's entry again (ext4 aborts its journal; a later fsync of the
// directory can succeed without it), so a power cut, even one long after,
// may bring the old file back at the path. The store fails at once, but
// a store reopened on the live file system would open the new file and
// acknowledge writes in it that the old file lacks (without the log they
// are gone; with it, the old file is beside a log bound to the new one,
// which Open refuses). So the new file says so (Mark.Swap, written and
// fsync'd in the file itself, which needs no directory entry to be
// durable), and the next read-write Open compacts again before anything
// is acknowledged: a new file under a new rename, whose directory fsync
// must succeed. Each compaction's copy leaves the key out, so a file
// whose swap was made durable does not carry it.

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// markSwapUnsynced writes Mark.Swap into db (the store's new file, after
// the swap) and makes it durable.
func (e *Engine) markSwapUnsynced(db *bolt.DB) error {
	if e.mark.Swap == nil {
		return nil
	}
	err := Guard("compact: mark the swap unsynced", func() error {
		if err := db.Update(func(tx *bolt.Tx) error {
			return NewBoltView(tx).Put(e.mark.Path, e.mark.Swap, []byte{1})
		}); err != nil {
			return err
		}
		if db.NoSync {
			return db.Sync() // the commit above was not fsync'd (the log's store)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ckpt: compact: mark the new file for a compaction at the next Open: %w", err)
	}
	return nil
}

// dropSwapMark deletes Mark.Swap from a compaction's new file (not yet
// fsync'd: the copy's fsync covers it), copied from a file that had it.
func (e *Engine) dropSwapMark(dst *bolt.DB) error {
	if e.mark.Swap == nil {
		return nil
	}
	var has bool
	if err := dst.View(func(tx *bolt.Tx) error {
		has = NewBoltView(tx).Get(e.mark.Path, e.mark.Swap) != nil
		return nil
	}); err != nil || !has {
		return err
	}
	return dst.Update(func(tx *bolt.Tx) error { return NewBoltView(tx).Del(e.mark.Path, e.mark.Swap) })
}

// SwapUnsynced says the store's file was renamed into place by a Compact
// whose fsync of the directory failed (Mark.Swap): a read-write Open
// compacts again before it acknowledges anything.
func (e *Engine) SwapUnsynced() bool {
	if e.mark.Swap == nil {
		return false
	}
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	var has bool
	_ = Guard("read the swap mark", func() error {
		return e.db.View(func(tx *bolt.Tx) error {
			has = NewBoltView(tx).Get(e.mark.Path, e.mark.Swap) != nil
			return nil
		})
	})
	return has
}
