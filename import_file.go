package ckpt

// ImportFile: an import into a store file, built beside a missing one and
// linked into place once complete.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// importTempPath is where ImportFile builds a new file before it moves it
// into place.
func importTempPath(path string) string { return path + ".import" }

// ImportFile imports a dump (see Import) into the store file at path,
// opened with opts. An existing file gets the all-or-nothing Import (if
// the Close after it finds no room to apply the log, the import stands in
// the fsync'd log and ImportFile returns nil; opts.Logger hears of it). A
// missing one is built beside it, at path+".import", closed (the log
// applied), synced, and only then linked into place; so a failed,
// cancelled or killed import leaves no file at path. A leftover
// path+".import" of a killed run is removed by the next ImportFile; one
// an ImportFile into path still running holds open (or created) is not
// a leftover, and a second ImportFile then fails with ErrLocked: each
// builds only in a file it created (and if the second took
// the first's closed file for a leftover before the first linked it, the
// first fails with ErrLocked: the path holds the second's). If a
// file appears at path meanwhile, the result is ErrExists and that file is
// left alone.
func ImportFile(ctx context.Context, path string, r io.Reader, opts Options, iopts ImportOptions) (sum DumpSummary, err error) {
	if _, serr := os.Stat(path); serr == nil || !errors.Is(serr, os.ErrNotExist) {
		// Before the file is opened for writing (a read-write Open
		// writes): an input that is no dump leaves it as it was. A new
		// file is built aside and removed on any error.
		r, err := CheckDumpHeader(r)
		if err != nil {
			return sum, err
		}
		s, err := Open(path, opts)
		if err != nil {
			return sum, err
		}
		sum, err = s.Import(ctx, r, iopts)
		cerr := s.Close()
		if err == nil && errors.Is(cerr, ErrDiskFull) && !errors.Is(cerr, ErrFailed) {
			// Close found no room to apply the log: the import is in
			// it, fsync'd, and the next Open applies it. It stands, so
			// it is not reported failed (as the CLI's closeStore).
			s.log(slog.LevelWarn, "ckpt: import: Close found no room to apply the write-ahead log; the import stands in it, and the next Open applies it", slog.String("cause", cerr.Error()))
			cerr = nil
		}
		return sum, errors.Join(err, cerr)
	}
	tmp := importTempPath(path)
	// A file at tmp is a killed import's leftover, or the file of an
	// import into path that is running: that one holds it open for
	// writing (bbolt's lock). Removing it would make that import link
	// this one's half-written file into place and report success.
	release, held, err := engine.LockReplaced(tmp)
	if err != nil {
		return sum, fmt.Errorf("ckpt: import: %w", err)
	}
	if held {
		return sum, fmt.Errorf("%w: import into %s: another import into it is running (%s is open)", ErrLocked, path, tmp)
	}
	for _, p := range []string{tmp, tmp + walSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			release()
			return sum, fmt.Errorf("ckpt: import: remove leftover %s: %w", p, err)
		}
	}
	release()
	opts.ReadOnly = false
	opts.Bolt = createOwn(opts.Bolt, tmp)
	s, err := Open(tmp, opts)
	if errors.Is(err, os.ErrExist) {
		// Another ImportFile into path created tmp after this one's
		// leftover check: it is that one's file (createOwn).
		return sum, fmt.Errorf("%w: import into %s: another import into it created the new file %s", ErrLocked, path, tmp)
	}
	if err != nil {
		if !errors.Is(err, ErrLocked) {
			// Open creates the file (and may create its log) before it
			// can fail for want of room for the first pages: a failed
			// import leaves no file. A locked one is another process's.
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + walSuffix)
		}
		return sum, err
	}
	if opts.tuning != nil && opts.tuning.importOpened != nil {
		opts.tuning.importOpened()
	}
	// The new file's own descriptor. Once the store is closed (bbolt's
	// lock gone), its lock keeps another ImportFile into path from taking
	// the file for a killed run's leftover, and it tells whether the file
	// at tmp is still this one: linking another import's half-built file
	// into place would report this one done with the other's content.
	// By what it is once open, without waiting: another process may
	// have put a FIFO at tmp since the store opened it, and a plain open
	// of one waits for a writer for ever. That FIFO is not ours to remove.
	built, _, err := engine.OpenRegular(os.OpenFile, tmp)
	if err != nil {
		_ = s.Close()
		if _, other := engine.NotRegular(err); !other {
			_ = os.Remove(tmp)
		}
		_ = os.Remove(tmp + walSuffix)
		return sum, fmt.Errorf("ckpt: import into %s: open the new file %s: %w", path, tmp, err)
	}
	defer built.Close()
	ours := true // the files at tmp are this import's, to remove if it fails
	defer func() {
		if err != nil && ours {
			unholdToRemove(built)
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + walSuffix)
		}
	}()
	sum, err = s.Import(ctx, r, iopts)
	if err == nil && opts.tuning != nil && opts.tuning.importBeforeClose != nil {
		opts.tuning.importBeforeClose(s)
	}
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("ckpt: import into %s: close the new file: %w", path, cerr)
		if kept, ok := errors.AsType[*engine.LogKeptError](cerr); ok {
			// The log is not kept: the new file and its log go below.
			err = fmt.Errorf("ckpt: import into %s: close the new file: %w", path, kept.Err)
		}
		// A new store that failed after the import was logged (a bbolt
		// commit of the background apply) keeps the log, and its file
		// alone lacks what the log holds and says its log is live: Close
		// says so (ErrFailed), and nothing is linked
		// (h172_importfile_close_test.go).
	}
	if opts.tuning != nil && opts.tuning.importBeforeLink != nil {
		opts.tuning.importBeforeLink()
	}
	ours, held, lerr := engine.HoldBuilt(built, tmp)
	switch {
	case lerr != nil:
		ours = false
		return sum, errors.Join(err, fmt.Errorf("ckpt: import: lock the new file %s: %w", tmp, lerr))
	case !ours && err == nil:
		err = fmt.Errorf("%w: import into %s: another import into it replaced the new file %s", ErrLocked, path, tmp)
		if held {
			err = fmt.Errorf("%w: import into %s: another import into it holds the new file %s", ErrLocked, path, tmp)
		}
	}
	if err == nil {
		err = built.Sync()
	}
	if err != nil {
		return sum, err
	}
	// Link, not rename: it fails instead of replacing a file that appeared
	// at path meanwhile.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("%w: %s appeared during the import", ErrExists, path)
		}
		return sum, fmt.Errorf("ckpt: import: %w", err)
	}
	// From here the names tmp and tmp-wal may be another import's (this
	// one's file is at path): a failure below removes path alone.
	ours = false
	unholdToRemove(built)
	_ = os.Remove(tmp)
	dirSync := syncDir
	if opts.tuning != nil && opts.tuning.hooks.SyncDir != nil {
		dirSync = opts.tuning.hooks.SyncDir // tests make it fail
	}
	if err := dirSync(filepath.Dir(path)); err != nil {
		// The link may not survive a power cut: the import failed, and a
		// failed import leaves no file at path. No store has the new
		// file open yet (where flock is, built's lock keeps one from
		// opening it until this returns), so it goes.
		if rerr := os.Remove(path); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the new file again: %w", rerr))
		}
		return sum, fmt.Errorf("ckpt: import into %s: fsync the directory after the link: %w", path, err)
	}
	return sum, nil
}

// createOwn returns bo with its OpenFile creating tmp only as a new file
// (O_EXCL): an ImportFile builds in a file it created. Two ImportFiles
// into the same missing path both pass the leftover check before either
// creates tmp; opening it with O_CREATE alone, the second waited on the
// first's lock and took it in the moment between the first's Close and its
// HoldBuilt, then imported its dump on top of the finished file. With
// O_EXCL the second fails with os.ErrExist instead. bbolt opens the file
// again only after it lost it (OpenBolt's same-file check: tmp removed
// meanwhile as a leftover), and then, as here, only a file it creates.
func createOwn(bo *bolt.Options, tmp string) *bolt.Options {
	o := bolt.Options{}
	if bo != nil {
		o = *bo
	}
	open := o.OpenFile
	if open == nil {
		open = os.OpenFile
	}
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if name == tmp && flag&os.O_CREATE != 0 {
			flag |= os.O_EXCL
		}
		return open(name, flag, perm)
	}
	return &o
}

// unholdToRemove closes f, the new file's descriptor, before ImportFile
// removes a name of it on Windows: there no file a handle is open on can
// be removed (os.Open does not share delete), and the handle holds no
// lock (engine.HoldBuilt) to keep. Elsewhere the lock stays until
// ImportFile returns.
func unholdToRemove(f *os.File) {
	if runtime.GOOS == "windows" {
		_ = f.Close()
	}
}
