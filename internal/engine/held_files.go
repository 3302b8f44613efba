package engine

// The store's files removed or renamed under it. A store writes through
// the files it opened; when a cleanup script or an operator removes or
// renames one (rm s.db-wal, mv s.db), every write after that lands in a
// file no reopen at the path reads, and was acknowledged all the same: a
// writer saving every 5 ms acknowledged 125 saves after its log was
// removed, all gone at exit. SQLite refuses such writes
// (SQLITE_READONLY_DBMOVED). So before a durable write is acknowledged,
// the store looks again that its paths name its files: after each fsync
// of the log (its file, and the store's: a write the log holds is
// applied to the store's file, then dropped from the log), and before
// each fsync'd commit of a store without a log. A file moved fails the
// fsync, and the store stops as after any failed fsync (failstop.go):
// the group in flight is not acknowledged, and Close applies the groups
// acknowledged before it to the store's file it holds. Cost: two lookups
// of a path per fsync of the log, a few µs against its 70 µs or more, on
// Linux by statx asking for the inode number alone: a stat that reads a
// file's times makes the kernel (6.13 on: multigrain timestamps) give its
// next write a fine-grained mtime, so every write then dirtied the inode
// and every fdatasync of the log committed the journal too (+50 µs a
// write+fdatasync here; PutFull Sync +20-55% per op). Not
// checked: NoSync writes between fsyncs (they promise no durability), and
// a move between the look and the acknowledgement (SQLite's window too).
// A file overwritten in place keeps its inode: its bytes are looked at
// beside (overwrite.go).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// heldFile is a file the store holds open, with the path it opened it at.
type heldFile struct {
	path string
	log  bool // the write-ahead log, not the store's file
	id   fileID
}

// holdFile records f, open at path; nil (nothing checked) if f cannot be
// looked at.
func holdFile(f *os.File, path string, log bool) *heldFile {
	if f == nil {
		return nil
	}
	id, err := idOfFile(f)
	if err != nil {
		return nil
	}
	// Resolved now, as Open resolved it: a relative path looked up after
	// the process changed its working directory names another file, or
	// none, and every write would fail.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &heldFile{path: path, log: log, id: id}
}

// stillThere returns an error (a *MovedError) when path no longer names
// the held file. A path the process may not look at says nothing either
// way: the fsync's word stands.
func (h *heldFile) stillThere() error {
	if h == nil {
		return nil
	}
	now, err := idAtPath(h.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &MovedError{Path: h.path, Log: h.log, how: "was removed or renamed"}
	case err != nil:
		return nil
	case !now.same(h.id):
		return &MovedError{Path: h.path, Log: h.log, how: "was replaced by another file (removed or renamed, and another put at its path)"}
	}
	return nil
}

// MovedError is why a store stopped taking writes when its file or its
// log is no longer at its path. Its text is the whole story the user
// reads (FailState.Fail does not add an I/O error's words to it): what
// moved, that nothing failed on the disk, and what keeps the writes
// acknowledged before, which depends on the file.
type MovedError struct {
	Path string
	Log  bool // the write-ahead log moved, not the store's file
	how  string
	// overwritten: the file is at its path, with bytes the store did not
	// write (overwrite.go); LogPath names the store's log ("" without).
	overwritten bool
	LogPath     string
}

func (e *MovedError) Error() string {
	if e.overwritten {
		return e.overwrittenWords()
	}
	if e.Log {
		// Close applies every acknowledged group to the store's file,
		// which then holds them without the log (a clean close).
		return e.What() + "; the writes acknowledged before are kept: Close the store, which puts them in its file, then open it again"
	}
	// The file the store holds keeps them, at whatever name it now has;
	// removed, it lives only while the store holds it open.
	return e.What() + "; the writes acknowledged before are in the file the store still holds: if it was renamed, Close the store and move it back before reopening; if it was removed, copy them out first with Export (ImportFile makes a store of its output; Close lets the file go)"
}

// Overwritten tells a file overwritten in place (the same inode, other
// bytes: overwrite.go) from one removed or renamed.
func (e *MovedError) Overwritten() bool { return e.overwritten }

// What is the error's first part, what moved and that the store stopped,
// without the advice to a program that holds the store open: a command
// that has ended (cmd/ckpt) gives its own.
func (e *MovedError) What() string {
	what := "the store's file"
	if e.Log {
		what = "the write-ahead log"
	}
	return fmt.Sprintf("%s %s %s while the store had it open, so the store stopped taking writes (a write acknowledged from now on would be lost with it)", what, e.Path, e.how)
}

// heldFiles are the store's file and its log. Set at Open (the log when
// it is created) and when Compact swaps the file; read by the syncer.
// meta and head look at their bytes (overwrite.go).
type heldFiles struct {
	db, log atomic.Pointer[heldFile]
	meta    fileWatch
	head    atomic.Pointer[logHead]
}

// check looks at the log, then the store's file: at their paths, then
// at their bytes.
func (h *heldFiles) check() error {
	if err := h.log.Load().stillThere(); err != nil {
		return err
	}
	if err := h.head.Load().check(h.meta.logPath); err != nil {
		return err
	}
	if err := h.db.Load().stillThere(); err != nil {
		return err
	}
	return h.meta.check()
}

// syncLog is the log's fsync, as the observer times it, then the look
// that the store's paths still name its files, with their bytes: either
// failing, no group it covers is acknowledged. The store's file
// overwritten, bbolt takes nothing more (FailBolt): Close does not apply
// the log into the copy.
func (e *Engine) syncLog(f *os.File) error {
	if err := e.obs.SyncLog(f, e.hooks.SyncLog); err != nil {
		return err
	}
	err := e.held.check()
	if m, ok := errors.AsType[*MovedError](err); ok && m.overwritten && !m.Log {
		e.fs.Fail(FailBolt, err)
	}
	return err
}

// commitBolt commits a bbolt write transaction, as the observer times it,
// once the store's file is seen to be still the store's (overwrite.go).
func (e *Engine) commitBolt(tx *bolt.Tx) error {
	return e.held.meta.commit(tx, func(tx *bolt.Tx) error { return e.obs.CommitBolt(tx, e.hooks.CommitBolt) })
}

// watchFiles starts looking at the bytes of the store's file (and of its
// log, when logging) as they are now: Open's last step.
func (e *Engine) watchFiles() {
	if e.readOnly {
		return
	}
	e.held.meta.path = e.held.db.Load().pathOr(e.path)
	if e.wal != nil && e.wal.log != nil {
		e.held.meta.logPath = e.held.log.Load().pathOr(e.logPath)
	}
	e.held.meta.reset(e.db, e.file)
}

func (h *heldFile) pathOr(p string) string {
	if h == nil {
		return p
	}
	return h.path
}
