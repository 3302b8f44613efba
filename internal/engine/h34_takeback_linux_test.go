//go:build linux

package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestARecordCutShortByAFullDiskNeverReadsBack: a record's write that
// finds no room part-way fails its group alone (ErrDiskFull), and its
// bytes must not read back as a record: takeBack zeroes the header of
// what was written. The write here is cut at a page boundary inside the
// record's zero tail (a value ending in zeros, then the padding): the
// page written holds the header and every byte that is not zero, and the
// page refused reads as a hole, zeros, so the record is whole; the
// syncer's next fsync (of the groups before it) or the page cache alone
// after a kill would bring it back at the next Open.
//
// The room the record overwrites is gone here, as on a copy-on-write
// file system (btrfs, ZFS), where an overwrite of the growth's zeros
// takes new room: on a small tmpfs, filled, the log's length and zeros
// are set past its one written page without writing them.
//
// Fails on 92ba922: os.File.WriteAt returns 0 for a write that pwrite cut
// short with an error (it drops the count of the pwrite that wrote part),
// so takeBack thinks nothing was written and leaves the header.
func TestARecordCutShortByAFullDiskNeverReadsBack(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 1048576)
	path := filepath.Join(mnt, "t.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const page = 4096
	// One put whose value ends in zeros: its record's bytes from the
	// last non-zero one on, past the first page, are zeros.
	val := append(bytes.Repeat([]byte{'v'}, page-150), make([]byte, 200)...)
	muts := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: val}}
	rec, _ := appendRecord(nil, l.id, l.seed, 1, 0, muts)
	last := int64(bytes.LastIndexFunc(rec, func(r rune) bool { return r != 0 }))
	if end := l.off + int64(len(rec)); l.off+last >= page || end <= page || end+recHeader > 2*page {
		t.Fatalf("the record spans %d-%d, its last non-zero byte at %d: not cut at %d inside its zero tail", l.off, end, l.off+last, page)
	}
	if err := h32Fill(filepath.Join(mnt, "filler"), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.f.Truncate(2 * page); err != nil {
		t.Fatal(err)
	}
	l.length, l.size = 2*page, 2*page
	off := l.off
	_, err = l.Append(1, 0, muts)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Append on a full disk: %v, want ErrDiskFull", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scanLog(path, data, 0, LogBinding{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Groups) != 0 {
		t.Errorf("the record whose write found no room reads back as group %d (header at %d: % x)",
			sc.Groups[0].Gen, off, data[off:off+recHeader])
	}
}
