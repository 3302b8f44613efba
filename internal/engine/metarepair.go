package engine

// Repairing a damaged bbolt meta page: the explicit way out of the
// read-write Open's refusal (checkMetas), as RecoverLog is for a damaged
// log. It accepts the step back to the other page's transaction.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"

	bolt "go.etcd.io/bbolt"
)

// RepairMeta rewrites f's damaged meta page from the valid one, so that
// both name the same transaction and bbolt's next commit writes the
// damaged slot as usual; f must be held under bbolt's exclusive lock with
// nothing committed since it was opened. It returns what was damaged (the
// error checkMetas gives, nil if nothing) once the repair is fsync'd.
// check, if not nil, runs once a damaged page is found and before
// anything is written: its error stops the repair with nothing written
// (the repair is the one write that cannot be taken back: it erases the
// newer transaction's trace, so what refuses the file must come first).
func RepairMeta(f *os.File, check func() error) (damage, err error) {
	damage = checkMetas(f)
	if damage == nil {
		return nil, nil
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	if _, ok, err := c.meta(); err != nil || !ok {
		return nil, fmt.Errorf("ckpt: repair the meta page: %v", err)
	}
	bad := 0
	if c.metaValid[0] {
		bad = 1
	}
	page := make([]byte, c.ps)
	if _, err := f.ReadAt(page, int64(uint64(1-bad)*c.ps)); err != nil {
		return nil, fmt.Errorf("ckpt: repair the meta page: %w", err)
	}
	binary.LittleEndian.PutUint64(page, uint64(bad)) // the page header's id
	if _, err := f.WriteAt(page, int64(uint64(bad)*c.ps)); err != nil {
		return nil, fmt.Errorf("ckpt: repair the meta page: %w", err)
	}
	if err := Fdatasync(f); err != nil {
		return nil, fmt.Errorf("ckpt: repair the meta page: fsync: %w", err)
	}
	return damage, nil
}

// MetaDamage is what is wrong with f's meta pages (the error checkMetas
// gives), nil if nothing; it writes nothing. Recovery reads it before its
// first commit, which writes the damaged slot (bbolt's next transaction
// after the valid page's), and repairs the page itself (RepairMeta) only
// where it commits nothing.
func MetaDamage(f *os.File) error { return checkMetas(f) }

// RevertMeta makes transaction keep the newest in f again after the
// commit of the next one failed: bbolt writes a commit's meta page and
// then fsyncs it, so a failed last fsync leaves the new meta page in the
// page cache, where bbolt's next read transaction and the next Open take
// it as committed, and a write that returned an error would show up. The
// meta page of keep (valid, in slot keep%2; in a backup's copy, which
// holds an odd keep in slot 0 and its twin keep-1 in slot 1, rebuilt from
// the twin) is written over the failed commit's slot and fsync'd. If the failed commit never wrote its meta page (the other
// slot holds an older transaction), nothing is written. The pages the
// failed commit wrote are free pages of keep's tree, so keep is whole.
func RevertMeta(f *os.File, keep uint64) error {
	_, err := revertMeta(f, keep)
	return err
}

// revertMeta is RevertMeta; reached tells whether the failed commit's meta
// page was there (and is now keep's again).
func revertMeta(f *os.File, keep uint64) (reached bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	if _, ok, err := c.meta(); err != nil || !ok {
		return false, fmt.Errorf("ckpt: take back the failed commit's meta page: no valid meta page (%v)", err)
	}
	other := int((keep + 1) % 2) // the slot the failed commit wrote
	slot := 1 - other
	holds := func(i int, txid uint64) bool { return c.metaValid[i] && c.metas[i].txid == txid }
	page := make([]byte, c.ps)
	switch {
	case holds(slot, keep):
		if c.metaValid[other] && c.metas[other].txid < keep {
			return false, nil // the failed commit did not reach its meta page
		}
		if _, err := f.ReadAt(page, int64(uint64(slot)*c.ps)); err != nil {
			return true, fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
		}
	case holds(other, keep):
		// A copy bbolt's Tx.WriteTo made (BackupFile, Backup): it puts
		// transaction N in slot 0 and N-1 in slot 1, so an odd keep is in
		// the slot its successor writes. Still there: not reached.
		return false, nil
	case holds(slot, keep-1) && (!c.metaValid[other] || c.metas[other].txid == keep+1):
		// The same copy, the failed commit's page written (or cut short)
		// over keep's: slot holds WriteTo's twin of keep, the same meta
		// with its txid one lower (bbolt's tx.go, WriteTo). keep's page is
		// that one with keep's txid and checksum.
		if _, err := f.ReadAt(page, int64(uint64(slot)*c.ps)); err != nil {
			return true, fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
		}
		m := page[pageHeaderSize:]
		binary.LittleEndian.PutUint64(m[48:], keep)
		h := fnv.New64a()
		h.Write(m[:metaChecksumAt])
		binary.LittleEndian.PutUint64(m[metaChecksumAt:], h.Sum64())
	default:
		return false, fmt.Errorf("%w: take back the failed commit's meta page: neither meta page holds transaction %d", ErrCorrupt, keep)
	}
	binary.LittleEndian.PutUint64(page, uint64(other)) // the page header's id
	if _, err := f.WriteAt(page, int64(uint64(other)*c.ps)); err != nil {
		return true, fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
	}
	if err := Fdatasync(f); err != nil {
		return true, fmt.Errorf("ckpt: take back the failed commit's meta page: fsync: %w", err)
	}
	return true, nil
}

// revertFull answers a failed bbolt commit of tx, which began from the
// committed transaction keep, in f: it puts keep's meta page back if the
// failed one is there (RevertMeta) and tells whether the failure leaves
// bbolt as it was, for want of room (boltCleanFull), so that the store
// goes on. Not if the failed commit's meta page was there, or the page in
// its slot is not a valid meta page (its write cut short): bbolt's
// rollback may then have reloaded its freelist from that commit's freelist
// page, which counts the pages it freed, still keep's, as free. Nor if
// bbolt's free list after its rollback is not keep's (db is the handle tx
// began on: rollback_freelist.go). A seam's failure may have left tx open: a clean one closes it (bbolt's Commit
// did already). err is the revert's failure, if any.
func revertFull(f *os.File, db *bolt.DB, tx *bolt.Tx, keep uint64, cause error) (clean bool, err error) {
	if _, moved := errors.AsType[*MovedError](cause); moved {
		return false, nil // not committed, and the file is not the store's: nothing to take back
	}
	reached, err := revertMeta(f, keep)
	if err != nil || reached || !boltCleanFull(cause) {
		return false, err
	}
	_ = tx.Rollback()
	// The meta page is keep's, but bbolt's rollback may have read the
	// failed one through its map (rollback_freelist.go).
	if err := reloadedFreelist(f, db, keep); err != nil {
		return false, err
	}
	return true, nil
}
