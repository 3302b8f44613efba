package engine

// A new file's first pages cut short. bbolt makes a new store's file by
// writing its first four pages at once (two meta pages, an empty free
// list, an empty root leaf); on a full disk that write comes out short,
// and OpenBolt takes the pages back (freshFile.undo). A kill or crash
// between the short write and the undo leaves a prefix of those pages:
// never a store (no transaction of the store was ever committed in it,
// nothing was written), yet every later Open refused it as damage
// ("truncated?", "not a ckpt file") naming nothing to run, even once
// there was room. A read-write Open that finds exactly such a prefix,
// under its lock, empties the file and makes the store there as on an
// empty file. A real store cut as short differs from the prefix (its meta
// pages name later transactions): it stays refused.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

const (
	metaPageFlag = 0x04
	// minNewFilePrefix is the shortest prefix of a new file told from a
	// store's start: through the first meta page's checksum.
	minNewFilePrefix = pageHeaderSize + metaChecksumAt + 8
)

// newFilePages returns the four pages bbolt (v1.5.0, DB.init) writes
// into an empty file of page size ps, before anything else: meta pages
// 0 and 1 (transactions 0 and 1, the root bucket at page 3, the free
// list at page 2, four pages in use), the empty free list, the empty
// root leaf.
func newFilePages(ps int) []byte {
	buf := make([]byte, 4*ps)
	for i := range 2 {
		p := buf[i*ps:]
		binary.LittleEndian.PutUint64(p[0:], uint64(i))
		binary.LittleEndian.PutUint16(p[8:], metaPageFlag)
		m := p[pageHeaderSize:]
		binary.LittleEndian.PutUint32(m[0:], boltMagic)
		binary.LittleEndian.PutUint32(m[4:], boltVersion)
		binary.LittleEndian.PutUint32(m[8:], uint32(ps))
		binary.LittleEndian.PutUint64(m[16:], 3)         // the root bucket's page
		binary.LittleEndian.PutUint64(m[32:], 2)         // the free list's page
		binary.LittleEndian.PutUint64(m[40:], 4)         // pages in use
		binary.LittleEndian.PutUint64(m[48:], uint64(i)) // transaction
		h := fnv.New64a()
		h.Write(m[:metaChecksumAt])
		binary.LittleEndian.PutUint64(m[metaChecksumAt:], h.Sum64())
	}
	binary.LittleEndian.PutUint64(buf[2*ps:], 2)
	binary.LittleEndian.PutUint16(buf[2*ps+8:], freelistPageFlag)
	binary.LittleEndian.PutUint64(buf[3*ps:], 3)
	binary.LittleEndian.PutUint16(buf[3*ps+8:], leafPageFlag)
	return buf
}

// holdsNewFilePages tells whether f holds exactly newFilePages at page
// size ps: a new store's first pages and nothing committed after them.
func holdsNewFilePages(f *os.File, ps int64) bool {
	buf := make([]byte, 4*ps)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return false
	}
	return bytes.Equal(buf, newFilePages(int(ps)))
}

// newFileCutShort tells whether f holds a prefix, shorter than four
// pages, of newFilePages: at the page size its first page names if that
// is a whole meta page, else at ps (Open's, or the system's: what bbolt
// made the file with). The prefix must hold the first meta page's
// checksum (minNewFilePrefix): shorter, it could be any bbolt file's
// start (a store's first meta page differs from a new file's only in its
// transaction, pages in use and checksum), so it stays refused.
func newFileCutShort(f *os.File, ps int) (bool, error) {
	if ps <= 0 {
		ps = os.Getpagesize()
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	n := fi.Size()
	own := fileOwnPageSize(f, int64(ps))
	if n < minNewFilePrefix || own < 1024 || own > 1<<24 || n >= 4*own {
		return false, nil
	}
	got := make([]byte, n)
	if _, err := f.ReadAt(got, 0); err != nil {
		return false, err
	}
	return bytes.Equal(got, newFilePages(int(own))[:n]), nil
}

// forgetCutNewFile empties f, locked by this process, if it holds only a
// new file's first pages cut short (newFileCutShort): bbolt then makes
// the store there as in an empty file.
func forgetCutNewFile(f *os.File, ps int) error {
	cut, err := newFileCutShort(f, ps)
	if err != nil || !cut {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("ckpt: empty a new file's first pages cut short: %w", err)
	}
	return nil
}

// CutShortAdvice says what to do about the file at path when it holds
// only the start of bbolt's new-file pages (ps: Open's page size, 0 for
// the system's), for the error of an Open that refused it; "" for any
// other file. From the first meta page's checksum on such a file never
// held a store (newFileCutShort): a read-write Open makes the store there
// where it can empty it first (forgetsCutNewFile), else removing it is
// safe. Shorter, it is also what a store cut as short leaves (its first
// meta page differs only from the transaction on): the advice says both;
// shorter than bbolt's magic, it could be any file's start: no advice.
func CutShortAdvice(path string, ps int, readOnly bool) string {
	// Opened as Open's own look is: a FIFO at path (refused as no store
	// file) would hold a plain open until a writer came.
	f, fi, err := openRegular(os.OpenFile, path, os.O_RDONLY, 0, false)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi.Size() == 0 {
		return ""
	}
	n := fi.Size()
	if n >= minNewFilePrefix {
		if cut, err := newFileCutShort(f, ps); err != nil || !cut {
			return ""
		}
		do := "remove it and open again"
		if readOnly && forgetsCutNewFile {
			do = "a read-write Open (any ckpt command that writes) makes the store there"
		}
		return fmt.Sprintf("it holds only the first %d bytes of a new store's pages, cut short by a full disk or a kill as the store was made: "+
			"it never held a store; %s", n, do)
	}
	if n < pageHeaderSize+4 {
		// Zeros and a flag: nothing yet says bbolt (its magic follows).
		return ""
	}
	got := make([]byte, n)
	if _, err := f.ReadAt(got, 0); err != nil {
		return ""
	}
	// The page size is in bytes 24-27: any of bbolt's may be the file's.
	for size := 1024; size <= 1<<16; size *= 2 {
		if bytes.Equal(got, newFilePages(size)[:n]) {
			return fmt.Sprintf("it is only the first %d bytes of a bbolt file's first page: a new store's creation cut short "+
				"by a full disk or a kill leaves this, and so does a store cut short, whose data is not in it: "+
				"if it was a new store's, remove it and open again; if it held a store, restore it from a backup", n)
		}
	}
	return ""
}
