package engine

import (
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// reloadedFreelist checks bbolt's free list after its rollback of a failed
// commit (keep the transaction the commit began from) against keep's
// freelist page read through f. bbolt's rollback reloads the list from the
// newest meta page as its map of the file shows it; on a file system
// whose map can show a failed write's bytes for a while (FUSE: the kernel
// copied them into the page before the write failed), that is the failed
// commit's meta page, and the list its freelist page: one that calls the
// pages the commit freed, still keep's tree, free. The next commit then
// writes over keep's tree. The list is right if bbolt's next transaction
// is keep's successor and counts exactly keep's free and pending pages
// as freed; otherwise the error says why (the store must not go on).
func reloadedFreelist(f *os.File, db *bolt.DB, keep uint64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil || !ok {
		return fmt.Errorf("ckpt: check bbolt's free list after the failed commit: no valid meta page (%v)", err)
	}
	if m.txid != keep {
		return fmt.Errorf("ckpt: check bbolt's free list after the failed commit: the file's newest meta page is transaction %d, not %d", m.txid, keep)
	}
	c.hwm = m.hwm
	var ids []uint64
	if m.freelist != noFreelist {
		if ids, err = c.freeIDs(m.freelist); err != nil {
			return fmt.Errorf("ckpt: check bbolt's free list after the failed commit: %w", err)
		}
	}
	st := db.Stats() // the counts the rollback's close left
	tx, err := db.Begin(true)
	if err != nil {
		return fmt.Errorf("ckpt: check bbolt's free list after the failed commit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if got := uint64(tx.ID()); got != keep+1 {
		return fmt.Errorf("ckpt: bbolt's rollback of the failed commit left it at transaction %d, not %d", got-1, keep)
	}
	if n := st.FreePageN + st.PendingPageN; n != len(ids) {
		return fmt.Errorf("ckpt: bbolt's rollback of the failed commit reloaded a free list of %d pages, not transaction %d's %d", n, keep, len(ids))
	}
	for _, id := range ids {
		p, err := tx.Page(int(id))
		if err != nil || p == nil || p.Type != "free" {
			return fmt.Errorf("ckpt: bbolt's rollback of the failed commit reloaded a free list without page %d, free in transaction %d (%v)", id, keep, err)
		}
	}
	return nil
}

// freeIDs reads the page ids freelist page id names (its checks are
// freelist's, less those against the tree).
func (c *pageCheck) freeIDs(id uint64) ([]uint64, error) {
	_, count, overflow, buf, err := c.read(id, freelistPageFlag, "freelist")
	if err != nil {
		return nil, err
	}
	limit := (overflow + 1) * c.ps
	start, n := uint64(pageHeaderSize), uint64(count)
	if count == 0xFFFF {
		n = binary.LittleEndian.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if n > limit/8 {
		return nil, fmt.Errorf("%w: freelist page %d: %d free pages do not fit in it", ErrCorrupt, id, n)
	}
	if buf, err = c.extend(buf, id, start+n*8, limit, "freelist"); err != nil {
		return nil, err
	}
	ids := make([]uint64, n)
	for i := range n {
		ids[i] = binary.LittleEndian.Uint64(buf[start+i*8:])
	}
	return ids, nil
}
