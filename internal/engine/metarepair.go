package engine

// Repairing a damaged bbolt meta page: the explicit way out of the
// read-write Open's refusal (checkMetas), as RecoverLog is for a damaged
// log. It accepts the step back to the other page's transaction.

import (
	"encoding/binary"
	"fmt"
	"os"
)

// RepairMeta rewrites f's damaged meta page from the valid one, so that
// both name the same transaction and bbolt's next commit writes the
// damaged slot as usual; f must be held under bbolt's exclusive lock with
// nothing committed since it was opened. It returns what was damaged (the
// error checkMetas gives, nil if nothing) once the repair is fsync'd.
func RepairMeta(f *os.File) (damage, err error) {
	damage = checkMetas(f)
	if damage == nil {
		return nil, nil
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
