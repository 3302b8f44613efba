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
// must succeed. Each compaction's copy carries the key from before its
// fsync, and loses it once the directory's fsync succeeded, so a file
// whose swap was made durable does not carry it.

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// putSwapMark writes Mark.Swap into a compaction's new file before its
// fsync (the copy's fsync covers it): whatever happens after the rename
// (the directory's fsync fails, the mark's own write would fail on the
// same failing disk, the process is killed), the file at the path says
// that its rename was never known durable. Written after a failed
// directory fsync instead, a failed write left a file the next Open
// wrote on (h214_swap_cases_unix_test.go).
func (e *Engine) putSwapMark(dst *bolt.DB) error {
	if e.mark.Swap == nil {
		return nil
	}
	return dst.Update(func(tx *bolt.Tx) error { return NewBoltView(tx).Put(e.mark.Path, e.mark.Swap, []byte{1}) })
}

// clearSwapMark deletes Mark.Swap from the new file once the directory's
// fsync after the rename succeeded. The commit is fsync'd as the store's
// are (the log's store: not, until the applier's next fsync): should it be
// lost, the next Open only compacts once more.
func (e *Engine) clearSwapMark(dst *bolt.DB) error {
	if e.mark.Swap == nil {
		return nil
	}
	err := Guard("compact: clear the swap mark", func() error {
		return dst.Update(func(tx *bolt.Tx) error { return NewBoltView(tx).Del(e.mark.Path, e.mark.Swap) })
	})
	if err != nil {
		return fmt.Errorf("ckpt: compact: clear the new file's mark after the directory's fsync (the next read-write Open compacts again): %w", err)
	}
	return nil
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
