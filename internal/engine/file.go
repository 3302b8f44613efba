package engine

// File identity: open bbolt's file, and make sure the file locked is the
// file at the path.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// OpenBolt opens the bbolt file and returns it with the file handle bbolt
// locked. After taking the lock it checks that the locked file is still
// the one at path (device and inode): a process that waited for the lock
// while Compact renamed a new file over the path holds the old, deleted
// file, and opens again (within bo.Timeout) on the new one. bbolt panics
// (or faults) on some damaged files; that becomes ErrCorrupt, and the file
// handle is closed so its lock does not outlive the failed Open.
func OpenBolt(path string, bo *bolt.Options) (*bolt.DB, *os.File, error) {
	deadline := time.Now().Add(bo.Timeout)
	open := bo.OpenFile
	if open == nil {
		open = os.OpenFile
	}
	for {
		o := *bo
		// bbolt reads a zero Timeout as "wait forever".
		o.Timeout = max(time.Until(deadline), time.Millisecond)
		// reloadedFreelist reads the size of bbolt's free list after a
		// full disk's rollback from db.Stats, which NoStatistics leaves
		// empty: every clean rollback would fail the store.
		o.NoStatistics = false
		if o.ReadOnly {
			// A read-only handle allocates no page: loading the free list
			// early only costs, and a file without one written would be
			// walked for it before any check of ours (precheck_order.go).
			o.PreLoadFreelist = false
		}
		var f *os.File
		checked := false
		var fresh *freshFile
		o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if o.ReadOnly {
				flag &^= os.O_CREATE // bbolt would create a missing file
			}
			fi, statErr := os.Stat(name)
			if statErr == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
				// A FIFO, a device, a socket: no store file, and opened
				// it could hold Open for ever (a FIFO's read-only open
				// waits for a writer, a read of it for data).
				return nil, fmt.Errorf("%w: %s: not a ckpt file: it is %s, not a regular file", ErrCorrupt, name, FileKind(fi.Mode()))
			}
			// Looked at again once open: a FIFO swapped in since the
			// Stat would hold the open or the first read (openRegular).
			file, _, err := openRegular(open, name, flag, perm, true)
			if no := (*errNotRegular)(nil); errors.As(err, &no) {
				return nil, fmt.Errorf("%w: %s: not a ckpt file: %s", ErrCorrupt, name, no)
			}
			if err == nil && !o.ReadOnly {
				// Before bbolt reads a page (precheck.go).
				if checked, err = checkBeforeOpen(file, deadline, o.PageSize); err != nil {
					_ = file.Close()
					return nil, err
				}
				if fi, serr := file.Stat(); checked && serr == nil && fi.Size() == 0 {
					// Locked and empty: bbolt writes its first pages here.
					fresh = &freshFile{fi: fi, created: errors.Is(statErr, os.ErrNotExist)}
				}
			}
			f = file
			return file, err
		}
		db, err := openBoltOnce(path, &o)
		if err != nil {
			if FromPanic(err) {
				_ = AbandonBolt(db, f)
			} else if fresh != nil {
				fresh.undo(path, o.PageSize)
			}
			if retry, err := emptyReadOnly(path, o.ReadOnly, err); !retry || time.Now().After(deadline) {
				return nil, nil, err
			}
			continue
		}
		same, err := lockedIsAtPath(f, path)
		if err != nil || same {
			if err == nil && !o.ReadOnly && !checked {
				err = checkOpened(f) // before any write can trust a damaged page (precheck.go)
			}
			if err == nil && o.ReadOnly {
				// Reads what it can, but not round a cycle (precheck_damaged.go).
				var damaged *damagedBuckets
				if damaged, err = refuseCycles(f); err == nil {
					markDamaged(db, damaged)
				}
			}
			if err == nil && fresh != nil {
				// bbolt fsyncs a new file's first pages, never its
				// directory: until that is fsync'd a power cut may take
				// the file's entry, and with it every write acknowledged
				// in it (without the log, every write; the log's own
				// directory fsync comes later, or never with NoWAL).
				if serr := SyncDir(filepath.Dir(path)); serr != nil {
					err = errors.Join(fmt.Errorf("ckpt: open: fsync the directory of the new file: %w", serr), fresh.drop(f, path))
				}
			}
			if err != nil {
				_ = closeBolt(db)
				return nil, nil, err
			}
			return db, f, nil
		}
		if err := db.Close(); err != nil {
			return nil, nil, err
		}
		if time.Now().After(deadline) {
			return nil, nil, berrors.ErrTimeout
		}
	}
}

// openBoltOnce is bolt.Open under Guard. On a panic db is nil.
func openBoltOnce(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	err = Guard("open", func() error {
		var err error
		db, err = bolt.Open(path, 0o600, bo)
		return err
	})
	return db, err
}

// lockedIsAtPath tells whether f, the file bbolt locked, is the file now
// at path.
func lockedIsAtPath(f *os.File, path string) (bool, error) {
	if f == nil {
		return false, errors.New("bbolt opened no file") // cannot happen
	}
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // renamed or removed meanwhile: open what is there now
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}

// emptyReadOnly explains bbolt's failure to open an empty file read-only:
// it tries to initialise the file, and the write fails with EBADF. If the
// file is still empty it is not a ckpt file; if it is not empty any more,
// a read-write Open initialised it meanwhile: retry.
func emptyReadOnly(path string, readOnly bool, err error) (retry bool, _ error) {
	if !readOnly || !errors.Is(err, syscall.EBADF) {
		return false, err
	}
	fi, serr := os.Stat(path)
	if serr != nil {
		return false, err
	}
	if fi.Size() == 0 {
		return false, fmt.Errorf("%w: %s: not a ckpt file: empty", ErrCorrupt, path)
	}
	return true, err
}

// MmapSize is the map size Open asks bbolt for: twice the file, at least
// 1 GiB. bbolt must remap to grow the file past its map, and a remap waits
// for every open read transaction (and new ones wait behind it): mapped
// generously, the file grows for a long time before that happens. bbolt
// grows the map in 1 GiB steps past 1 GiB, so a file growing past twice
// its size at Open remaps once per GiB. Mapping more costs address space
// only, except on Windows, where bbolt grows the file to its map (there,
// and with 32-bit addresses, bbolt's own sizing stays).
func MmapSize(path string) int {
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	size := 1 << 30
	if fi, err := os.Stat(path); err == nil && fi.Size() < 1<<40 {
		size = max(size, 2*int(fi.Size()))
	}
	return size
}

// GrowStep is how much bbolt grows the file by past what a commit needs
// (bbolt's AllocSize): an eighth of its data, 64 KiB-16 MiB. Open sets
// it, and the applier (or, without the log, the commit loop) before each
// commit. bbolt grows a file whose map exceeds
// AllocSize in AllocSize steps, and the map is large from the start
// (MmapSize): with bbolt's fixed 16 MiB, a small store's file would end
// up to 16 MiB larger than its data (bbolt's own sizing grew a small file
// to its map, a power of two: an eighth keeps it as close). On Linux the
// extension is sparse: a larger step saves only the truncate and fsync of
// each growth.
func GrowStep(size int64) int {
	return int(min(max(size/8, 64<<10), 16<<20))
}

// freshFile is a file bbolt found empty under OpenBolt's lock, to write a
// new store's first pages into; created: OpenBolt's open created it.
type freshFile struct {
	fi      os.FileInfo
	created bool
}

// drop takes back the whole new file of an Open that fails after bbolt
// made it (its directory's fsync failed): left, the next Open would find
// a store there, not a new file, and skip the fsync it failed on. f is
// the file, still locked by this process and still at path (OpenBolt
// checked), so no other opener has written into it. A failure to take
// it back is returned: the caller's error says the file is left (an
// empty store, no data), not only why the Open failed. The next
// read-write Open takes it for a store, and still meets the directory's
// fsync (Open's with NoWAL, CreateLog's with the log).
func (ff *freshFile) drop(f *os.File, path string) error {
	var err error
	if ff.created {
		err = os.Remove(path)
	} else {
		err = f.Truncate(0)
	}
	if err != nil {
		return fmt.Errorf("ckpt: open: the new file %s is left behind, an empty store that holds no data (it could not be taken back: %w)", path, err)
	}
	return nil
}

// undo takes back what a failed bbolt Open left of a new store: its first
// pages cut short (a full disk: bbolt writes four pages at once and a
// short write leaves one to three), which every later Open would refuse
// as ErrCorrupt ("not a ckpt file", "truncated?") even once there is room;
// or all four, when their fsync failed: they stay readable but are never
// durable (Linux marks the pages clean after a failed writeback, and no
// later fsync writes them), so a later Open would take the file for a
// store, commit into it, and a power cut could leave its meta page 1
// gone, a file Open refuses. The file is removed (emptied, if it was
// there empty before) only while this process holds its lock again, if it
// is still that file and still shorter than four pages or exactly bbolt's
// four new pages: never a store another process has since committed in.
// Outside unix (no flock to take again) the file stays.
func (ff *freshFile) undo(path string, pageSize int) {
	if pageSize <= 0 {
		pageSize = os.Getpagesize()
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close() // its lock with it
	if locked, err := lockExclusive(f, time.Now()); err != nil || !locked {
		return
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, ff.fi) {
		return
	}
	if own := fileOwnPageSize(f, int64(pageSize)); fi.Size() > 4*own || fi.Size() == 4*own && !holdsNewFilePages(f, own) {
		return
	}
	if ff.created {
		_ = os.Remove(path)
	} else {
		_ = f.Truncate(0)
	}
}

// fileOwnPageSize is the page size f's first page names when it is a
// whole bbolt meta page (its checksum holds), else ps. bbolt writes that
// page first, so a file another opener made whole there with other pages
// is told by its own size: four of its pages, which may be fewer bytes
// than four of ps.
func fileOwnPageSize(f *os.File, ps int64) int64 {
	buf := make([]byte, pageHeaderSize+metaChecksumAt+8)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return ps
	}
	if ok, _ := readMeta(buf); !ok {
		return ps
	}
	return int64(binary.LittleEndian.Uint32(buf[pageHeaderSize+8:]))
}

// FileKind names the kind of a file that is not a regular one, for an
// error that says why it is no store or log.
func FileKind(m os.FileMode) string {
	switch t := m.Type(); {
	case t&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&os.ModeSocket != 0:
		return "a socket"
	case t&os.ModeCharDevice != 0:
		return "a character device"
	case t&os.ModeDevice != 0:
		return "a device"
	case t&os.ModeDir != 0:
		return "a directory"
	default:
		return fmt.Sprintf("a special file (%s)", t)
	}
}
