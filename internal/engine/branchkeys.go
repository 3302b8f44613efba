package engine

// Verify's check of the branch keys, which bbolt's own page check does
// not make. bbolt finds a child page in its parent by the child's first
// key: when a write changes the child, it replaces the parent's element
// whose key equals the key the child started with (node.spill's
// parent.put). A branch key that differs from its child's first key (a
// flipped byte that keeps the order, so the page check passes) makes that
// write add a second element for the child instead, and a later commit
// frees the child's old page twice: bbolt panics ("page 22 already
// freed"), the write fails, and the log it could not apply makes every
// later read-write Open fail the same way. Reads find their keys all the
// same. So Verify said OK on a file every write to that part failed on
// (ckpt gc, hunt31).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// checkBranchKeys reads, from the file of v's transaction, every branch
// page reachable from a bucket and passes fn an error for each element
// whose key is not its child page's first key; fn returning false stops
// it. It runs after bbolt's page check passed (the pages reachable are
// sound in bbolt's eyes): a page met twice stops the walk.
func (v *BoltView) checkBranchKeys(fn func(error) bool) {
	db := v.tx.DB()
	f, err := os.Open(db.Path())
	if err != nil {
		return // moved or gone (Compact swapped it): not the transaction's file
	}
	defer f.Close()
	// The pages read are the transaction's only while the file's meta
	// is its (as CheckMeta): a later commit, or another file now at the
	// path, and the check is left out.
	fi, err := f.Stat()
	if err != nil {
		return
	}
	pc := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := pc.meta()
	txid := uint64(v.tx.ID())
	if v.tx.Writable() {
		txid--
	}
	if err != nil || !ok || m.txid != txid {
		return
	}
	bc := &branchCheck{f: f, ps: uint64(db.Info().PageSize), hwm: uint64(v.tx.Size()) / uint64(db.Info().PageSize), seen: map[uint64]bool{}, fn: fn}
	var walk func(b *bolt.Bucket) bool
	walk = func(b *bolt.Bucket) bool {
		if root := uint64(b.Root()); root != 0 && !bc.tree(root) {
			return false
		}
		c := b.Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			if val != nil {
				continue
			}
			if sub := b.Bucket(k); sub != nil && !walk(sub) {
				return false
			}
		}
		return true
	}
	_ = v.tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		if !walk(b) {
			return ErrStop
		}
		return nil
	})
}

type branchCheck struct {
	f       *os.File
	ps, hwm uint64
	seen    map[uint64]bool
	fn      func(error) bool
}

// page reads page id whole (its overflow too), or nil after reporting
// why it cannot.
func (bc *branchCheck) page(id uint64) []byte {
	if id < 2 || id >= bc.hwm || bc.seen[id] {
		bc.fn(fmt.Errorf("%w: page %d is outside the file or reached twice", ErrCorrupt, id))
		return nil
	}
	bc.seen[id] = true
	head := make([]byte, bc.ps)
	if _, err := bc.f.ReadAt(head, int64(id*bc.ps)); err != nil {
		bc.fn(fmt.Errorf("branch key check: page %d: %w", id, err))
		return nil
	}
	overflow := uint64(binary.LittleEndian.Uint32(head[12:]))
	if overflow == 0 {
		return head
	}
	if id+overflow >= bc.hwm {
		bc.fn(fmt.Errorf("%w: page %d's overflow reaches past the file", ErrCorrupt, id))
		return nil
	}
	all := make([]byte, (overflow+1)*bc.ps)
	if _, err := bc.f.ReadAt(all, int64(id*bc.ps)); err != nil {
		bc.fn(fmt.Errorf("branch key check: page %d: %w", id, err))
		return nil
	}
	return all
}

// elemKey is the key of element i of page p (a branch or leaf page), or
// nil if it lies outside the page.
func elemKey(p []byte, i int) []byte {
	flags := binary.LittleEndian.Uint16(p[8:])
	at := pageHeaderSize + i*elemSize
	if at+elemSize > len(p) {
		return nil
	}
	var pos, ksize uint64
	switch flags {
	case branchPageFlag:
		pos, ksize = uint64(binary.LittleEndian.Uint32(p[at:])), uint64(binary.LittleEndian.Uint32(p[at+4:]))
	case leafPageFlag:
		pos, ksize = uint64(binary.LittleEndian.Uint32(p[at+4:])), uint64(binary.LittleEndian.Uint32(p[at+8:]))
	default:
		return nil
	}
	if uint64(at)+pos+ksize > uint64(len(p)) {
		return nil
	}
	return p[uint64(at)+pos : uint64(at)+pos+ksize]
}

// tree checks the branch pages of the tree rooted at page root.
func (bc *branchCheck) tree(root uint64) bool {
	stack := []uint64{root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := bc.page(id)
		if p == nil {
			return false
		}
		if binary.LittleEndian.Uint16(p[8:]) != branchPageFlag {
			continue
		}
		count := int(binary.LittleEndian.Uint16(p[10:]))
		for i := range count {
			at := pageHeaderSize + i*elemSize
			if at+elemSize > len(p) {
				return bc.fn(fmt.Errorf("%w: branch page %d: element %d lies outside the page", ErrCorrupt, id, i))
			}
			child := binary.LittleEndian.Uint64(p[at+8:])
			key := elemKey(p, i)
			cp := bc.page(child)
			if cp == nil {
				return false
			}
			delete(bc.seen, child) // read again as the stack comes to it
			if binary.LittleEndian.Uint16(cp[10:]) == 0 {
				continue
			}
			if first := elemKey(cp, 0); key == nil || first == nil || !bytes.Equal(key, first) {
				if !bc.fn(fmt.Errorf("%w: branch page %d: element %d's key %x is not the first key %x of its child page %d (a damaged key: a write there frees a page twice)", ErrCorrupt, id, i, key, first, child)) {
					return false
				}
			}
			stack = append(stack, child)
		}
	}
	return true
}
