package ckpt

// Hot backup: a complete, self-contained copy of a live store (no -wal
// needed), holding every write acknowledged before the call, taken while
// writers go on.
//
// How: the backup first applies the log to bbolt from its own goroutine
// (as the applier does); then a solo op in the commit loop
// drains the groups in flight and applies the little logged since, so the
// file holds every write queued before the backup; still inside the loop,
// the backup takes the applier's lock and opens a bbolt read transaction. The loop then goes on
// with other writes while bbolt's Tx.WriteTo copies that transaction's
// pages (a consistent image, since bbolt never overwrites a page a live
// read transaction can see). Writes meanwhile are logged and served from
// the overlay as usual; only their move into bbolt waits for the backup.
//
// Why the applier waits: a bbolt write transaction that must grow the
// file's mapping waits for every read transaction to end, and while it
// waits, every new read transaction (the commit loop opens one per group)
// waits behind it: an applier running beside a long copy could stop all
// writers for the rest of the backup at an unpredictable moment. Paused,
// it cannot; writers then wait only if they log more than maxUnapplied
// (32 MiB) while one backup runs, when the commit loop must apply the log
// itself. (Compact and ApplyLog, which apply the log first, wait for a
// running backup too; a second backup waits for the first outside the
// commit loop, on backupMu.) The backup also holds the handle (the engine's
// Hold), as every reader does, so Compact cannot swap the file under it (with
// NoWAL, a Compact waiting for the handle holds new reads until the backup ends,
// and a commit that must grow the mapping waits for the copy: with NoWAL
// the commit loop writes bbolt itself).
//
// A read-only store cannot apply its log to the file: its snapshot is the
// file plus the logged groups (kept from Open), and the copy gets those
// groups replayed into it before it is complete.
//
// The file form writes a temporary sibling named <dest>.ckpt-backup-*.tmp,
// fsyncs it (every backupSyncEvery bytes, and at the end), links it to an
// absent destination or renames it over a present one (placeCopy), and
// fsyncs the directory: the
// destination is always either absent, the earlier file, or a whole copy.
// A backup killed half-way leaves its temporary file; the next backup to
// the same destination removes it. (Two backups to one destination at
// once: the later removes the earlier's file, which then fails, since it
// places, and replays a log into, only the file it created; neither
// leaves a partial copy.)

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// BackupOption changes how Backup and BackupFile run.
type BackupOption func(*backupConfig)

type backupConfig struct {
	progress func(written, total int64)
	check    func(path string) error
}

// BackupProgress has fn called (from the backup's goroutine) after each
// chunk the backup writes, with the bytes written so far and the size of
// the whole copy. A read-only store whose log is not yet in its file
// counts the last pass over the copy (file form: the snapshot it starts
// from). fn should be quick: the snapshot is held while it runs (a bbolt
// read transaction; with the log, the applier paused), so a write made
// from it, or one it waits for, may wait for the backup to end, a
// deadlock, where its commit must grow bbolt's memory map, which waits
// for every read (with NoWAL, any write: measured, a 4 MB Save from fn
// on a store mapped small hangs). It is called synchronously all the
// same: a caller may end the backup from it (its ctx) or act during the
// copy. It must not call Compact,
// ApplyLog, Backup or Close, which wait for the backup.
func BackupProgress(fn func(written, total int64)) BackupOption {
	return func(c *backupConfig) { c.progress = fn }
}

// BackupCheck has BackupFile call fn with the path of its copy once the
// copy is whole and fsync'd, before it is put in place; an error from fn
// removes the copy and BackupFile returns it (wrapped), the destination
// left as it was. A copy of a damaged file is as damaged: checked only
// after it replaced the destination, a backup of a store damaged since the
// last one would put a damaged copy over the whole one (ckpt backup
// verifies the copy here). fn must not remove or rename the file; Backup
// to a writer does not call it.
func BackupCheck(fn func(path string) error) BackupOption {
	return func(c *backupConfig) { c.check = fn }
}

// Backup writes a complete copy of the store to w: a store file that opens
// on its own (it needs no -wal beside it) and holds every write
// acknowledged before Backup was called (the state of one moment: whole
// groups of writes, never part of one). Writers go on meanwhile; see
// docs/backup.md for the bound on how long they can wait. If ctx ends,
// Backup stops with ctx's error and w holds a partial copy: use BackupFile
// for a file that is either whole or absent. Read-only stores back up too
// (if the log a crashed writer left is not yet in the file, the copy is
// built in a temporary file first, in os.TempDir).
func (s *Store) Backup(ctx context.Context, w io.Writer, opts ...BackupOption) (err error) {
	defer s.backupDone(&err)()
	if w == nil {
		return fmt.Errorf("%w: backup: the writer is nil", ErrInvalidConfig)
	}
	cfg := backupOptions(opts)
	err = s.withBackupSnapshot(ctx, true, func(tx *bolt.Tx, groups []*engine.Group, live bool) error {
		if len(groups) == 0 && !live {
			return writeSnapshot(ctx, tx, w, cfg.progress)
		}
		return s.streamThroughTemp(ctx, tx, groups, w, cfg.progress)
	})
	if err != nil {
		return fmt.Errorf("ckpt: backup: %w", engine.WriteFull(err))
	}
	return nil
}

// BackupFile writes a backup (see Backup) to path: into a temporary file
// beside it, fsync'd, then renamed over path (linked to it, if path is
// absent by then), and the directory fsync'd. path is then either
// unchanged (an earlier file stays as it was) or a whole copy, whatever
// happens, a crash included; an error or a cancelled ctx leaves no file
// behind. An error after the copy is at path (the directory's fsync
// failed: the new name may not survive a power cut) wraps ErrNotDurable
// and a *ReplacedError; any other error left path as it was. A path that is a symbolic link is the file it names (the copy
// goes there; the link stays). path may not be the store's own file or
// log, nor, at the start or by the end of the copy, a file with a -wal
// beside it (a store someone opened there: the copy would be read together
// with that log) or a file a store has open for writing (replacing it
// would lose that store's later writes); these fail with ErrInvalidConfig
// (the last also with ErrLocked). A store open read-only at path goes on
// reading the file it opened.
func (s *Store) BackupFile(ctx context.Context, path string, opts ...BackupOption) (err error) {
	defer s.backupDone(&err)()
	cfg := backupOptions(opts)
	// A link is the file it names: the copy goes there, and every check
	// below is of that file (renamed over the link, it would replace the
	// link and leave the file behind it, the one a restore through the
	// link reads, with the older backup).
	link := path
	if path, err = followLinks(path); err != nil {
		return fmt.Errorf("ckpt: backup to %s: %w", link, err)
	}
	if err := s.checkBackupDest(path); err != nil {
		return err
	}
	// A store open for writing at path (a NoWAL one has no -wal beside
	// it) holds its lock: refuse, or the rename below would leave it
	// writing to an unlinked file and lose every write it acknowledges
	// from then on. Held (shared) until the rename, so that a store
	// opening path for writing meanwhile waits and then opens the copy.
	unlock, held, err := engine.LockReplaced(path)
	if err != nil {
		return fmt.Errorf("ckpt: backup to %s: %w", path, err)
	}
	if held {
		return fmt.Errorf("%w: backup to %s: a store has that file open for writing (%w)", ErrInvalidConfig, path, ErrLocked)
	}
	defer unlock()
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeBackupLeftovers(dir, base)
	f, err := os.CreateTemp(dir, base+backupTempInfix+"*"+backupTempSuffix)
	if err != nil {
		return fmt.Errorf("ckpt: backup to %s: %w", path, engine.WriteFull(err))
	}
	tmp := f.Name()
	// The copy is cleared of the live mark itself (replayInto): the
	// store's file keeps it throughout (engine.HoldCopy). With no group to
	// replay, after the snapshot is let go: its page check and commit need
	// not hold the applier (and the writers behind a full log) meanwhile.
	var clearCopy bool
	err = s.withBackupSnapshot(ctx, false, func(tx *bolt.Tx, groups []*engine.Group, live bool) error {
		if err := writeSnapshot(ctx, tx, &syncingWriter{f: f}, cfg.progress); err != nil {
			return err
		}
		if len(groups) > 0 {
			return s.replayInto(f, groups)
		}
		clearCopy = live
		return nil
	})
	if err == nil && clearCopy {
		err = s.replayInto(f, nil)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		// Another backup to path cleans up what it takes for a killed
		// backup's file (removeBackupLeftovers): place only our own.
		err = stillAt(f, tmp)
	}
	err = errors.Join(err, f.Close())
	if err == nil && cfg.check != nil {
		err = cfg.check(tmp)
	}
	if err == nil {
		err = ctx.Err() // cancelled before the copy is in place: no file
	}
	var replaced bool
	if err == nil {
		replaced, err = placeCopy(tmp, path, s.linkFile())
	}
	if err != nil {
		if !errors.Is(err, errBackupTempGone) { // else the name is not ours to remove
			_ = os.Remove(tmp)
		}
		return fmt.Errorf("ckpt: backup to %s: %w", path, engine.OwnFilesFull(sayCopy(err, tmp)))
	}
	// The copy is whole at path; a failed directory fsync only means the
	// rename may not survive a power cut, which the error says
	// (ReplacedError): the caller cannot tell it from a failure before.
	sync := syncDir
	if s.tune.hooks.SyncDir != nil {
		sync = s.tune.hooks.SyncDir // tests make it fail
	}
	if err := sync(dir); err != nil {
		// Path is the path the caller gave (a link's own name, not its
		// target's): the one a program compares with what it passed, and
		// reading it finds the copy; the message names the target.
		return &ReplacedError{Path: link, Earlier: replaced,
			Err: fmt.Errorf("ckpt: backup to %s: fsync directory: %w", path, err)}
	}
	return nil
}

func backupOptions(opts []BackupOption) backupConfig {
	var cfg backupConfig
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// withBackupSnapshot runs fn on a read transaction that holds every write
// acknowledged before the call; groups are logged groups the transaction
// lacks (read-only stores only), to be replayed into the copy, and live
// says the transaction's file says a log is live beside it (the copy,
// whole alone, must not say so, or it is refused restored without a log).
// clear: a writing store's file is held with the mark cleared
// (engine.HoldCopy), for a copy streamed as it is (Backup); it leaves a
// window where a crash loses the log's groups to a file copied alone.
func (s *Store) withBackupSnapshot(ctx context.Context, clear bool, fn func(tx *bolt.Tx, groups []*engine.Group, live bool) error) error {
	// One backup at a time: a second one's solo op would otherwise wait
	// in the commit loop for the first one's copy (for the applier's lock),
	// and every writer with it. It waits here instead.
	if err := lockCtx(ctx, &s.backupMu); err != nil {
		return err
	}
	defer s.backupMu.Unlock()
	// Held shared for the whole copy: Close waits for the backup instead
	// of closing the file under it. (Not through writing, which would take
	// it a second time: a Close waiting in between would deadlock.)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.readOnly {
		tx, groups, live, release, err := s.eng.HoldCopy(clear)
		if err != nil {
			return err
		}
		defer release()
		defer engine.EndRead(tx)
		return fn(tx, groups, live)
	}
	// Apply what is logged so far here, as the applier would, so that
	// the solo op below, which writers wait behind, finds little left to
	// apply. (A failure here is met again, and returned, there.)
	s.eng.ApplyNow()
	var tx *bolt.Tx
	var live bool
	var release func()
	err := s.eng.Solo(ctx, func() error {
		// In the commit loop, after every op queued before this one is
		// committed and the log is applied to bbolt.
		var err error
		tx, _, live, release, err = s.eng.HoldCopy(clear)
		return err
	})
	if err != nil {
		return err
	}
	defer release()
	defer engine.EndRead(tx)
	return fn(tx, nil, live)
}

// lockCtx locks mu, or gives up when ctx ends first.
func lockCtx(ctx context.Context, mu *sync.Mutex) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if mu.TryLock() {
		return nil
	}
	locked := make(chan struct{})
	go func() {
		mu.Lock()
		close(locked)
	}()
	select {
	case <-locked:
		return nil
	case <-ctx.Done():
		go func() { // the lock comes later: hand it straight back
			<-locked
			mu.Unlock()
		}()
		return ctx.Err()
	}
}

// writeSnapshot writes tx's pages to w.
func writeSnapshot(ctx context.Context, tx *bolt.Tx, w io.Writer, progress func(written, total int64)) error {
	bw := &backupWriter{ctx: ctx, w: w, total: tx.Size(), progress: progress}
	_, err := tx.WriteTo(bw)
	if err != nil && ctx.Err() != nil {
		// bbolt wraps some write errors with %s: give back ctx's own.
		return ctx.Err()
	}
	if err != nil && bw.err != nil && !errors.Is(err, bw.err) {
		// bbolt formatted w's error as text (its meta pages' copy: "meta
		// 0 copy: %s"): keep it as an error too, so that a destination
		// with no room is ErrDiskFull (engine.WriteFull) and errors.Is
		// finds the system's error.
		err = textError{err.Error(), bw.err}
	}
	return err
}

// textError is an error that bbolt formatted as text: its own words, and
// the error it formatted for errors.Is and errors.As (said once, not
// twice as "%v: %w" did).
type textError struct {
	text string
	err  error
}

func (e textError) Error() string { return e.text }
func (e textError) Unwrap() error { return e.err }

// replayInto applies groups to the store file f (a fresh copy, still
// open), opened again by its name. The copy is only as sound as the
// source's pages, which a read-only store (the only kind with groups to
// replay) never checked as a write needs: the read-write open of the copy
// runs the page check before a write (engine.OpenBolt), and then every
// page is checked as RecoverLog checks before it writes (checkBeforeWrite:
// a damaged key would have the replay write into a node whose order it
// breaks, and bbolt panics on some damage the page check lets through).
// A damaged copy is ErrCorrupt and nothing is placed. The write runs
// through the engine's guarded paths: a panic or a fault in bbolt is
// ErrCorrupt, and the handle, whose locks it may keep, is abandoned
// (engine.AbandonBolt) rather than closed. The name must still be f's:
// another backup to the same destination removes the temporary files it
// finds there, and bbolt, opening a removed name, would create an empty
// file and write the groups alone into it (a copy missing all the file
// held).
func (s *Store) replayInto(f *os.File, groups []*engine.Group) (err error) {
	want, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	bo := s.boltOpts
	bo.ReadOnly = false
	open := bo.OpenFile
	if open == nil {
		open = os.OpenFile
	}
	bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		file, err := open(name, flag&^os.O_CREATE, perm)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w (%w)", errBackupTempGone, err)
			}
			return nil, err
		}
		if fi, err := file.Stat(); err != nil || !os.SameFile(fi, want) {
			_ = file.Close()
			return nil, cmp.Or(err, errBackupTempGone)
		}
		return file, nil
	}
	db, file, err := engine.OpenBolt(f.Name(), &bo)
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	// Grow the copy by the store's step, as Open and the applier do: with
	// bbolt's default (16 MiB) and the large map, the replay's commit
	// would leave a small store's copy 16 MiB long.
	db.AllocSize = engine.GrowStep(want.Size())
	err = checkBeforeWrite(db, f.Name(), "backup: check the copy")
	if err != nil {
		err = fmt.Errorf("the copy of the store file, before the log is written into it: %w", err)
	} else if err = engine.GuardedUpdate(db, "backup: write the log into the copy", func(tx *bolt.Tx) error {
		if len(groups) > 0 {
			if err := appliedMark.Replay(engine.NewBoltView(tx), groups); err != nil {
				return err
			}
		}
		// The copy holds every group: it is whole alone, and must not say
		// a log is live beside it.
		return appliedMark.ClearLive(engine.NewBoltView(tx))
	}); err != nil {
		err = fmt.Errorf("write the log into the copy: %w", err)
	}
	if engine.FromPanic(err) {
		// bbolt's locks may be held: its Close could wait for them forever.
		return errors.Join(err, engine.AbandonBolt(db, file))
	}
	return errors.Join(err, db.Close())
}

// streamThroughTemp builds the copy of a read-only store with a log in a
// temporary file, then writes that file to w.
// Its own failures say "the temporary copy in DIR" where the OS names the
// file: the caller gave no such name (it is random, and removed by then),
// and DIR is where room or permission is wanting.
//
// The temporary file is Backup's own, removed whatever happens: a failure
// for want of room there, its fsync's included (the replay's commit), is
// ErrDiskFull (engine.OwnFilesFull), as a Compact's or BackupFile's own
// file's is; the store goes on.
func (s *Store) streamThroughTemp(ctx context.Context, tx *bolt.Tx, groups []*engine.Group, w io.Writer, progress func(written, total int64)) error {
	dir := os.TempDir()
	f, err := os.CreateTemp(dir, "ckpt-backup-*"+backupTempSuffix)
	if err != nil {
		return engine.OwnFilesFull(sayTemp(err, dir, ""))
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	own := func(err error) error { return engine.OwnFilesFull(sayTemp(err, dir, f.Name())) }
	if err := writeSnapshot(ctx, tx, f, nil); err != nil {
		return own(err)
	}
	if err := s.replayInto(f, groups); err != nil {
		return own(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return own(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return own(err)
	}
	bw := &backupWriter{ctx: ctx, w: w, total: fi.Size(), progress: progress}
	_, err = io.Copy(bw, f)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && bw.err == nil {
		err = own(err) // reading the copy back; w's own errors are the caller's
	}
	return err
}

// backupWriter counts what the copy writes, reports it, and stops the
// copy once ctx ends.
type backupWriter struct {
	ctx      context.Context
	w        io.Writer
	written  int64
	total    int64
	progress func(written, total int64)
	err      error // w's first failure
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	b.written += int64(n)
	if b.progress != nil && n > 0 {
		b.progress(b.written, b.total)
	}
	return n, err
}

// backupSyncEvery is how many bytes the file form writes between two
// fsyncs of the copy: a single fsync at the end would push the whole copy
// to the disk at once, and the log's fsyncs (every Sync write) wait
// behind it.
const backupSyncEvery = 16 << 20

// syncingWriter writes to f and fsyncs it every backupSyncEvery bytes.
type syncingWriter struct {
	f       *os.File
	unsyncd int64
}

func (w *syncingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.unsyncd += int64(n)
	if err == nil && w.unsyncd >= backupSyncEvery {
		w.unsyncd = 0
		err = w.f.Sync()
	}
	return n, err
}
