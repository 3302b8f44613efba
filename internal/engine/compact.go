package engine

// Compaction. bbolt never shrinks its file: deleted data leaves free pages
// that later writes reuse, but the file keeps its high-water size. Compact
// copies the live data into a new file and puts it in place of the old one.
//
// Crash safety: the old file is never modified. The new file is written
// next to it under a temporary name, fsync'd, then renamed over the old name
// (an atomic replace) and the directory is fsync'd. A crash before the rename
// leaves the old file (and a temporary file that the next Open removes); a
// crash after it leaves the new one, which already holds everything. Writers
// wait in the commit loop's queue for the whole compaction, so no write is
// acknowledged that only the old file holds. The new file is opened (and so
// locked) before the rename, so no other process can slip in between. A
// process waiting in Open on the old file's lock gets it once the old
// handle is closed; Open then sees that the path names another file and
// waits on that one (openBolt), so it never writes into the replaced file
// nor touches the log, which belongs to whoever holds the file at the path.
//
// The copy follows bbolt.Compact (same walk, pages filled to 100%), written
// out here to report progress and honour the context.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds the data copied in one transaction of the new
// file, as bbolt.Compact's txMaxSize does, so memory stays bounded.
const compactTxBytes = 32 << 20

// compactAllocSize is bbolt's AllocSize while the new file is written:
// none, so that each commit grows the file to what it needs (one page past
// its data) and the compacted file ends with its data. A step would only be
// empty pages at the end: each commit of the copy adds up to
// compactTxBytes, more than any step, so a step never saves a growth (a
// truncate and fsync); a 1 MiB step made a 2.8 MB store's file 3.7 MB.
const compactAllocSize = 0

// compactProgressEvery is how many keys are copied between two progress
// reports (and checks of the context).
const compactProgressEvery = 4096

func compactTempPath(path string) string { return path + ".compact" }

// compactErr names the new file by its temporary name in an error of
// the copy, before its rename: its handle is named path (namedHandle).
// bbolt formats some of the handle's errors as text (its growth: "file
// sync error: %s"), which said "sync PATH" for a failed fsync of
// PATH.compact: the text is said again with the temporary name, and
// errors.Is and errors.As still find what err wraps.
func compactErr(err error, path, tmp string) error {
	// The page check's errors are the old file's, named path too: they
	// stay as they are.
	if _, ok := errors.AsType[oldFileError](err); ok {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Path == path {
		pe.Path = tmp
	}
	// Only as an *os.PathError of a write to the new file says it: the
	// old file, which the copy reads, is named path too (a damaged page
	// of it is said so, and stays so).
	msg := err.Error()
	for _, op := range []string{"write ", "sync ", "truncate "} {
		msg = strings.ReplaceAll(msg, op+path+":", op+tmp+":")
	}
	if msg != err.Error() {
		return renamedError{msg, err}
	}
	return err
}

// renamedError is err said with another file's name (compactErr).
type renamedError struct {
	msg string
	err error
}

func (e renamedError) Error() string { return e.msg }
func (e renamedError) Unwrap() error { return e.err }

// oldFileError is an error of the store's own file, met while the copy
// reads it (checkTx opens and reads it by its path): compactErr leaves
// it naming that path, which is the file that failed.
type oldFileError struct{ err error }

func (e oldFileError) Error() string { return e.err.Error() }
func (e oldFileError) Unwrap() error { return e.err }

// RemoveCompactLeftover removes the temporary file of a compaction that
// died before its rename. Called only while holding the lock on path: no
// other process can be compacting it.
func RemoveCompactLeftover(path string) {
	_ = os.Remove(compactTempPath(path))
}

// CompactStats are the file sizes around a compaction.
type CompactStats struct {
	BytesBefore int64 // after the write-ahead log is applied, which compaction does first
	BytesAfter  int64
}

// Compact rewrites the live data into a new file and puts it in place of
// the store's (see above). Only a solo op calls it: it runs in the commit
// loop, after every write queued before it is in bbolt, and no write runs
// meanwhile. progress, if set, is called from time to time with the keys
// copied so far and the total. If ctx ends or the copy fails, the store
// keeps its old file unchanged; an error after the rename is a
// *ReplacedError.
func (e *Engine) Compact(ctx context.Context, progress func(done, total int64)) (CompactStats, error) {
	var st CompactStats
	fi, err := os.Stat(e.path)
	if err != nil {
		return st, fmt.Errorf("ckpt: compact: %w", err)
	}
	st.BytesBefore = fi.Size()
	tmp := compactTempPath(e.path)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("ckpt: compact: remove stale %s: %w", tmp, err)
	}
	bo := e.boltOpts
	bo.ReadOnly = false
	// The new file keeps the old one's page size: bbolt takes PageSize
	// only when it makes a file, so the store's options may not say it
	// (a file made with 1 KiB pages, opened without the option, came out
	// of a compaction with the system's 4 KiB, three times its size).
	// Info touches the map, which faults on a file cut short under the
	// store (TestFileTruncatedUnderAnOpenStore): guarded, and on a fault
	// the copy below meets it again and fails the store as before.
	_ = Guard("compact: page size", func() error {
		bo.PageSize = e.db.Info().PageSize
		return nil
	})
	// The store's map size (bo's, Open's large map: file.go MmapSize),
	// kept for the new file, which takes the old one's place: mapped as
	// bbolt maps a file (small, doubling), the store remapped at each
	// doubling after a Compact, and a remap that fails leaves bbolt with
	// no map, every read of the store failing until a reopen
	// (h172_remap_linux_test.go). The file's size does not follow the map
	// (compactAllocSize, and on Windows, where bbolt would grow the file
	// to its map, Open asks for none).
	bo.OpenFile = func(name string, flag int, _ os.FileMode) (*os.File, error) {
		open := os.OpenFile
		if e.boltOpts.OpenFile != nil {
			open = e.boltOpts.OpenFile
		}
		f, err := open(name, flag, fi.Mode().Perm())
		if err != nil {
			return nil, err
		}
		return namedHandle(f, e.path)
	}
	dst, dstFile, err := OpenBolt(tmp, &bo)
	if err != nil {
		return st, fmt.Errorf("ckpt: compact: create %s: %w", tmp, OwnFilesFull(compactErr(err, e.path, tmp)))
	}
	// One fsync at the end instead of one per transaction. The handle
	// becomes the store's: its own setting comes back with the fsync
	// (below), or every later commit would go unsynced, the applier's
	// too, while the log is cut back behind them.
	noSync := dst.NoSync
	dst.NoSync = true
	// bbolt grows a file whose map exceeds AllocSize (16 MB by default)
	// to what it needs plus AllocSize, and a smaller one to its map's size
	// (a power of two): with no step (compactAllocSize), the new file ends
	// with its data, not with empty pages. The default comes back for
	// later writes (which set their own step: GrowStep).
	allocSize := dst.AllocSize
	dst.AllocSize = compactAllocSize
	fail := func(err error) (CompactStats, error) {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return st, fmt.Errorf("ckpt: compact: %w", OwnFilesFull(compactErr(err, e.path, tmp)))
	}
	// The new file takes the old one's place, so it keeps what the old
	// one had: its permission bits (OpenFile's above were cut by the
	// umask: a store shared by a group, 0660, came out 0640) and, where
	// the process may give it away, its owner.
	if err := keepOwner(dstFile, fi); err != nil {
		return fail(err)
	}
	if err := dstFile.Chmod(fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	// A damaged page of the old file panics in bbolt: ErrCorrupt, and the
	// store keeps its old file.
	if err := Guard("compact: copy", func() error { return copyLive(ctx, dst, e.db, e.path, progress, e.compactStage) }); err != nil {
		return fail(e.fs.Began(err))
	}
	// Marked before its fsync, so that a file renamed into place is
	// marked whatever happens after the rename (compact_swap.go).
	if err := Guard("compact: mark the swap", func() error { return e.putSwapMark(dst) }); err != nil {
		return fail(err)
	}
	if err := dst.Sync(); err != nil {
		// bbolt's fdatasync on Linux is the bare errno: say whose.
		if _, ok := errors.AsType[*os.PathError](err); !ok {
			err = &os.PathError{Op: "fsync", Path: tmp, Err: err}
		}
		return fail(err)
	}
	// The file's step stays until the mark is cleared (below): the
	// clear's commit grows the file by a few pages, not by a step.
	dst.NoSync = noSync
	e.compactStage("synced")

	var dirErr, clearErr error
	old, err := e.replaceFile(dst, dstFile, func() error {
		if err := os.Rename(tmp, e.path); err != nil {
			return err
		}
		e.compactStage("renamed")
		// From here the new file is the store: both files hold all data,
		// so a failed directory fsync does not undo the swap. But the
		// rename may not be durable: after a power cut the path can name
		// the old file again, which lacks every write applied after this
		// (the log is rewound once bbolt holds them). So the store fails
		// (below): nothing more is acknowledged on top of it.
		dirErr = e.hooks.SyncDir(filepath.Dir(e.path))
		if dirErr == nil {
			// The rename is durable: the mark goes (before the new
			// handle's meta pages are taken as the store's, below).
			clearErr = e.clearSwapMark(dst)
		}
		return nil
	})
	dst.AllocSize = allocSize
	if err != nil {
		return fail(err)
	}
	e.compactStage("swapped")
	// From here an error says the new file is at the path (ReplacedError),
	// and whether its name is durable: the caller cannot tell otherwise.
	durable := dirErr == nil
	if dirErr != nil {
		// The new file is marked (above): the next Open does not write
		// on top of a rename that may not be durable (compact_swap.go).
		dirErr = e.persistFailed(FailBolt, fmt.Errorf("ckpt: compact: fsync the directory after the rename: %w", dirErr))
	} else if clearErr != nil {
		// A failed commit in the store's file: fail-stop, as the commit
		// loop's. The mark stays (the next Open compacts once more).
		dirErr = e.persistFailed(FailBolt, clearErr)
	}
	closeErr := closeBolt(old)
	if fi, err := os.Stat(e.path); err == nil {
		st.BytesAfter = fi.Size()
	}
	if err := errors.Join(dirErr, closeErr); err != nil {
		return st, &ReplacedError{Path: e.path, Earlier: true, Durable: durable,
			Err: fmt.Errorf("ckpt: compact: file replaced, but: %w", err)}
	}
	if e.wal != nil && e.wal.log != nil {
		// The log's space goes back too, at its next pass (Log.Shrink).
		e.wal.shrink = true
	}
	return st, nil
}

// copyLive copies every bucket, key and value of src into the empty dst,
// in key order with full pages. stage reports when half is copied. path
// is src's file (the store's path), for the page check.
func copyLive(ctx context.Context, dst, src *bolt.DB, path string, progress func(done, total int64), stage func(string)) error {
	// BeginRead, not src.View: a fault in bbolt's Begin must mark the
	// store stuck (Compact passes the error to FailState.Began).
	stx, err := BeginRead(src)
	if err != nil {
		return err
	}
	defer EndRead(stx)
	// The walks below follow every page and nested bucket: damage the
	// page check finds (a page or bucket naming one above it, a page of
	// the tree typed otherwise, which writes on a damaged file can leave
	// after the Open's page check passed: a page freed and reused while
	// still named) can have them recurse or loop for ever, as Verify's
	// walk would (TouchAll checks first too). Compact runs solo, with the
	// log applied: the file is stx's view, and checkTx checks it. A
	// damaged file is not compacted: the store keeps it as it is.
	if err := checkTx(stx, path); err != nil {
		return oldFileError{err}
	}
	c := &copier{ctx: ctx, dst: dst, progress: progress, stage: stage}
	// Count first, so progress has a total (a keys-only walk, far
	// cheaper than the copy).
	if err := stx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		n, err := countKeys(b, 1)
		c.total += 1 + n
		return err
	}); err != nil {
		return err
	}
	if c.tx, err = dst.Begin(true); err != nil {
		return err
	}
	defer func() {
		if c.tx != nil {
			_ = c.tx.Rollback()
		}
	}()
	if err := stx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return c.copyBucket(b, [][]byte{name})
	}); err != nil {
		return err
	}
	err = c.tx.Commit()
	c.tx = nil
	if err == nil && progress != nil {
		progress(c.done, c.total)
	}
	return err
}

// countKeys counts the keys of b (at depth: 1 for a top-level bucket)
// and of the buckets nested in it; deeper than maxBucketDepth is
// ErrCorrupt (a bucket cycle the page check did not see).
func countKeys(b *bolt.Bucket, depth int) (int64, error) {
	if depth > maxBucketDepth {
		return 0, fmt.Errorf("%w: buckets nested deeper than %d", ErrCorrupt, maxBucketDepth)
	}
	var n int64
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		n++
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				m, err := countKeys(sub, depth+1)
				if err != nil {
					return 0, err
				}
				n += m
			}
		}
	}
	return n, nil
}

type copier struct {
	ctx      context.Context
	dst      *bolt.DB
	tx       *bolt.Tx
	gen      int // transactions committed so far: bucket handles die with them
	size     int64
	done     int64
	total    int64
	half     bool
	progress func(done, total int64)
	stage    func(string)
}

// bucket returns (creating on first use) the bucket at path in the
// current transaction.
func (c *copier) bucket(path [][]byte) (*bolt.Bucket, error) {
	b, err := c.tx.CreateBucketIfNotExists(path[0])
	for _, name := range path[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists(name)
	}
	if err != nil {
		return nil, err
	}
	b.FillPercent = 1.0 // keys arrive in order: full pages are the smallest file
	return b, nil
}

// count notes one copied key of sz bytes, committing the transaction when
// it holds compactTxBytes and reporting progress.
func (c *copier) count(sz int64) error {
	c.done++
	if !c.half && c.done*2 >= c.total {
		c.half = true
		c.stage("copying")
	}
	if c.done%compactProgressEvery == 0 {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if c.progress != nil {
			c.progress(c.done, c.total)
		}
	}
	c.size += sz
	if c.size < compactTxBytes {
		return nil
	}
	if err := c.tx.Commit(); err != nil {
		c.tx = nil
		return err
	}
	var err error
	c.tx, err = c.dst.Begin(true)
	c.size = 0
	c.gen++
	return err
}

func (c *copier) copyBucket(src *bolt.Bucket, path [][]byte) error {
	if len(path) > maxBucketDepth {
		return fmt.Errorf("%w: buckets nested deeper than %d", ErrCorrupt, maxBucketDepth)
	}
	if err := c.count(int64(len(path[len(path)-1]))); err != nil {
		return err
	}
	b, err := c.bucket(path)
	if err != nil {
		return err
	}
	if err := b.SetSequence(src.Sequence()); err != nil {
		return err
	}
	gen := c.gen
	cur := src.Cursor()
	var prev []byte
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		// A key at or before the one before it is out of order, which
		// only a damaged page holds: bbolt's lookups trust the order, so
		// a nested bucket's name out of place is not found by name, and
		// the copy (sorted) would leave out that bucket's whole content,
		// or a key the lookups of the old file missed would come back.
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("%w: keys out of order in bucket %s (a damaged page)", ErrCorrupt, pathString(path))
		}
		prev = k
		// A key or nested bucket's name bbolt would refuse in the copy
		// (an empty one: a damaged key size) is damage, not a copy error.
		if err := Storable(k, v); err != nil {
			return fmt.Errorf("bucket %s: %w", pathString(path), err)
		}
		if v == nil {
			if sub := src.Bucket(k); sub != nil {
				if err := c.copyBucket(sub, append(path[:len(path):len(path)], k)); err != nil {
					return err
				}
				if b, err = c.bucket(path); err != nil { // the child may have committed
					return err
				}
				gen = c.gen
				continue
			}
			// A nil value is a nested bucket's (a read transaction's
			// cursor gives a stored value as a slice, empty or not): one
			// not found by its name is out of place in a damaged page.
			return fmt.Errorf("%w: bucket %q in %s cannot be opened by its name (a damaged page)", ErrCorrupt, k, pathString(path))
		}
		if gen != c.gen {
			if b, err = c.bucket(path); err != nil {
				return err
			}
			gen = c.gen
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		if err := c.count(int64(len(k) + len(v))); err != nil {
			return err
		}
	}
	return nil
}

// compactStage reports a stage of a compaction to the test hook, if any
// (Hooks.CompactStage).
func (e *Engine) compactStage(stage string) {
	if e.hooks.CompactStage != nil {
		e.hooks.CompactStage(stage)
	}
}

// pathString names a bucket path for an error ("threads/t1/cp").
func pathString(path [][]byte) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(parts, "/")
}
