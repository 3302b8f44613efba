package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/spf13/cobra"
)

func init() {
	register(newExportCmd)
	register(newImportCmd)
}

func newExportCmd(a *app) *cobra.Command {
	var outPath string
	var skipDamaged bool
	c := &cobra.Command{
		Use:   "export FILE [THREAD ...]",
		Short: "Dump threads (default: all) as JSON lines: lossless, streaming",
		Long: `export writes threads as JSON lines: a header, one line per checkpoint,
channel value and pending write (the stored bytes, base64), and an end
line with the counts. 'ckpt import' reads it back; export, import into a
new file and export again gives identical output. A damaged thread fails
the export; with --skip-damaged it is left out instead: the dump holds
every other thread whole, with an end line counting them (import takes
it), the threads left out are named on stderr and the command exits 1.`,
		Args: threadsAt(argsBetween(1, -1), 1, -1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			var skipped error // the threads --skip-damaged left out of a whole dump
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			for _, t := range args[1:] {
				// Before the header goes out: nothing on stdout for a typo.
				if err := requireThread(c.Context(), s, args[0], t); err != nil {
					return err
				}
			}
			// Export buffers the dump: a failure before its first 64 KiB
			// leaves stdout empty, and the line says so.
			out := &countingWriter{w: a.out}
			var w io.Writer = out
			left := func() string {
				if out.n == 0 {
					return args[0] + " unchanged; nothing written to stdout"
				}
				return args[0] + " unchanged; the dump on stdout is incomplete (no end line: import refuses it)"
			}
			if outPath != "" && outPath != "-" {
				if err := notTheStore(s.Path(), outPath); err != nil { // the file a link names, and its log
					return err
				}
				if d := filepath.Dir(outPath); !isDir(d) {
					// Else the error names the hidden temporary file
					// beside the dump (as backup's would).
					return fmt.Errorf("export to %s: no directory %s", outPath, d)
				}
				d, cerr := createDump(outPath)
				if pe, ok := errors.AsType[*fs.PathError](cerr); ok && pe.Path != outPath {
					// The hidden temporary file beside the dump, which
					// nobody named: say what was asked and what is left.
					return fmt.Errorf("export to %s: %s takes no new file (%v); nothing written", outPath, filepath.Dir(outPath), pe.Err)
				}
				if cerr != nil {
					return cerr
				}
				defer func() {
					// A dump that left damaged threads out is whole: kept.
					if cerr := d.finish(err == nil || skipped != nil); cerr != nil && (err == nil || skipped != nil) {
						err = withLeft(c.Context(), cerr, left())
					}
				}()
				w = d.f
				left = func() string { return args[0] + " unchanged, " + d.left() }
			}
			bar := a.progress(-1, "exporting records")
			sum, err := s.Export(c.Context(), w, ckpt.ExportOptions{Threads: args[1:], Progress: bar.set, SkipDamaged: skipDamaged})
			bar.done()
			if err != nil {
				if errors.Is(err, ckpt.ErrCorrupt) && !skipDamaged && c.Context().Err() == nil {
					return withLeft(c.Context(), err, left()+"; 'ckpt export --skip-damaged' writes every thread but the damaged ones")
				}
				return withLeft(c.Context(), err, left())
			}
			if a.stderrIsTerminal() {
				fmt.Fprintf(a.errw, "exported %s\n", describeDump(sum))
			}
			if len(sum.Damaged) > 0 {
				// Never a silent loss: the dump is whole for what it
				// holds, the exit status says it is not the whole store.
				skipped = fmt.Errorf("export: left out %s: %s (%w; the dump holds every other thread whole, with its end line)",
					count(len(sum.Damaged), "damaged thread", "damaged threads"), quotedThreads(sum.Damaged), ckpt.ErrCorrupt)
				return skipped
			}
			return nil
		},
	}
	c.Flags().StringVarP(&outPath, "output", "o", "", "write to this file instead of stdout")
	c.Flags().BoolVar(&skipDamaged, "skip-damaged", false, "leave out threads whose records or pages are damaged (named on stderr, exit 1) and write every other one")
	return c
}

func newImportCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "import FILE [DUMP]",
		Short: "Read a dump made by export into FILE (created if missing)",
		Long: `import reads a dump written by 'ckpt export' from DUMP, or from stdin when
DUMP is absent or "-" (without DUMP, stdin must not be a terminal), and
writes its threads into FILE in bounded batches. A thread already in FILE
is an error, found before FILE is written to (in a dump from a pipe,
among its first MiB): FILE is left byte-identical. On any error the
threads this import created are removed again.`,
		Args: argsBetween(1, 2),
		RunE: func(c *cobra.Command, args []string) (err error) {
			var in io.Reader = a.in
			if len(args) == 1 && a.stdinIsTerminal() {
				// Nobody types a dump: without this the command would sit
				// waiting for one with no word of why.
				return usageError{"import reads the dump from stdin, and stdin is a terminal: give the dump file (ckpt import FILE DUMP) or redirect it (ckpt import FILE < dump.jsonl)"}
			}
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%s: no such file", args[1]) // as a missing store file is said
				}
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil && st.IsDir() {
					// Said before FILE is created or opened for writing;
					// a usage mistake, as export -o DIR is.
					return usageError{fmt.Sprintf("%s is a directory, not a dump", args[1])}
				}
				in = f
			}
			// With --key-file a new file is sealed as an existing one's
			// import is (openWrite): a keyed handle writes no plaintext.
			enc, err := a.encryption()
			if err != nil {
				return err
			}
			_, statErr := os.Stat(args[0])
			created := errors.Is(statErr, fs.ErrNotExist)
			var sum ckpt.DumpSummary
			bar := a.progress(-1, "importing records")
			if created {
				// A new file is built beside the path and linked into
				// place only when complete: a failed or killed import
				// leaves no file behind.
				read := &countingReader{r: in}
				err = a.whileHeld(args[0], func(timeout time.Duration) (err error) {
					sum, err = ckpt.ImportFile(c.Context(), args[0], read, ckpt.Options{LockTimeout: timeout, Encryption: enc}, ckpt.ImportOptions{Progress: bar.set})
					if read.n > 0 && errors.Is(err, ckpt.ErrLocked) {
						// The dump was read (another import took the
						// path meanwhile): another try would read
						// the rest of it as a dump.
						return finalError{err}
					}
					return err
				})
				if pe, ok := errors.AsType[*fs.PathError](err); ok && (pe.Path == args[0] || strings.HasPrefix(pe.Path, args[0]+".import")) {
					// Names the file once, not its .import sibling twice;
					// an error of the dump's (read from stdin, a device)
					// names the dump, not the file.
					err = a.writeOpenError(args[0], err)
				}
			} else {
				// The dump's first line is checked after FILE's read-only
				// checks (a wrong FILE is named first) and before FILE is
				// opened for writing, which writes to it: a dump refused
				// there leaves FILE byte-identical (ImportFile does the same).
				// So are the dump's threads (importLooks), as far as the
				// dump can be read ahead.
				s, oerr := a.openWriteAfter(args[0], func() (err error) {
					threads, err := dumpThreadsAhead(&in)
					if err != nil {
						return fmt.Errorf("%w; nothing imported, %s left as it was", err, args[0])
					}
					if in, err = ckpt.CheckDumpHeader(in); err != nil {
						return fmt.Errorf("%w; nothing imported, %s left as it was", err, args[0])
					}
					return a.importLooks(c.Context(), args[0], threads)
				})
				if oerr != nil {
					return oerr
				}
				defer a.closeStore(s, &err)
				sum, err = s.Import(c.Context(), in, ckpt.ImportOptions{Progress: bar.set})
			}
			bar.done()
			if err != nil {
				left := "the threads imported so far were removed, " + args[0] + " left as it was"
				failed := "nothing imported, " + args[0] + " left as it was"
				if created {
					left = args[0] + " (created by this import) removed"
					failed = "nothing imported, no " + args[0] + " created"
					if strings.Contains(err.Error(), args[0]) {
						failed = "nothing imported, no file created" // the path once in the line
					}
				}
				if c.Context().Err() == nil && dumpRefused(err) && !strings.Contains(err.Error(), importUndoLeft) {
					// All or nothing: say so, the file is what people worry about.
					return fmt.Errorf("%w; %s", existsWords(err), failed)
				}
				if !created && strings.Contains(err.Error(), importUndoLeft) {
					// The undo itself failed (no room for it either): the
					// threads stay hidden from every read until the next
					// write open deletes them.
					left = "the threads imported so far are hidden, and the next command that writes to " + args[0] + " removes them: " + args[0] + " left as it was"
					if errors.Is(err, ckpt.ErrFailed) {
						// The undo failed because the store had: its
						// error is the import's again, and the file is
						// not as it was until a write removes what of
						// the import reached it (maybe nothing).
						if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
							err = j.Unwrap()[0]
						}
						left = "the import could not undo itself (the store had failed): what of it reached " + args[0] +
							" is hidden from every read, and the next command that writes to " + args[0] + " removes it"
					}
				}
				if created && c.Context().Err() == nil {
					left = failed
				}
				return withLeft(c.Context(), err, left)
			}
			if a.asJSON {
				return a.printJSON(sum)
			}
			fmt.Fprintf(a.out, "imported into %s: %s\n", args[0], describeDump(sum))
			return nil
		},
	}
	a.addJSON(c)
	return c
}

// importUndoLeft is what the library's error says when an import's undo
// could not finish (Store.Import): it has no sentinel of its own.
const importUndoLeft = "undo (the next read-write Open finishes it)"

// dumpFile is where export -o writes: a temporary file beside path,
// renamed over it once the dump is whole, so that a failed export leaves
// a file already at path (last night's dump) as it was; writing it in
// place truncated it first, and the failure then removed it. A symbolic
// link is the file it names (the link stays). A path that is not a
// regular file (a FIFO, /dev/stdout), or whose directory takes no new
// file, is written in place as before.
type dumpFile struct {
	f         *os.File
	path, tmp string // tmp is "" when written in place
	existed   bool   // path was a file before
	// placed: the whole dump was renamed to path, and the directory's
	// fsync, which makes that name durable, failed.
	placed bool
}

func createDump(path string) (*dumpFile, error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	fi, err := os.Lstat(path)
	d := &dumpFile{path: path, existed: err == nil}
	if err == nil && !fi.Mode().IsRegular() || err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.f, err = os.Create(path)
		return d, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeDumpLeftovers(dir, base)
	if d.f, err = createDumpTemp(dir, base); err != nil {
		if d.existed && errors.Is(err, fs.ErrPermission) {
			d.f, err = os.Create(path)
		}
		return d, err
	}
	d.tmp = d.f.Name()
	if d.existed {
		// The new dump replaces the old one's file: keep its mode (a new
		// one keeps CreateTemp's 0600).
		if err := d.f.Chmod(fi.Mode().Perm()); err != nil {
			_ = d.f.Close()
			_ = os.Remove(d.tmp)
			return nil, err
		}
	}
	return d, nil
}

// dumpTempPattern names an export's temporary file beside its path
// (os.CreateTemp's pattern), hidden.
func dumpTempPattern(base string) string { return "." + base + ".ckpt-export-*.tmp" }

// isDumpTemp tells whether name is an export's temporary file for base.
func isDumpTemp(base, name string) bool {
	prefix, suffix, _ := strings.Cut(dumpTempPattern(base), "*")
	return len(name) > len(prefix)+len(suffix) && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix)
}

// createDumpTemp creates the temporary file of an export to dir/base and
// locks it (dumpTempsLocked). Another export's removeDumpLeftovers may
// take the new file for a leftover between its creation and its lock:
// then the lock is refused, or the name no longer is the file, and a new
// one is made.
func createDumpTemp(dir, base string) (*os.File, error) {
	// A few tries: each lost one is another export's sweep at that very
	// moment; a file system whose locks always refuse must not loop.
	const tries = 8
	for range tries {
		f, err := os.CreateTemp(dir, dumpTempPattern(base))
		if err != nil || !dumpTempsLocked {
			return f, err
		}
		locked, err := tryLockDump(f)
		if err == nil && locked && sameFile(f, f.Name()) {
			return f, nil
		}
		_ = f.Close()
		if err != nil {
			_ = os.Remove(f.Name())
			return nil, err
		}
	}
	return nil, fmt.Errorf("create a temporary file for the dump in %s: its lock was refused %d times (another export to %s removing it?)", dir, tries, base)
}

// sameFile tells whether name is f's file.
func sameFile(f *os.File, name string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	ni, err := os.Lstat(name)
	return err == nil && os.SameFile(fi, ni)
}

// removeDumpLeftovers removes, in dir, every export temporary file for
// base that no export holds (a killed one's: its lock went with its
// process). One whose lock is held is a running export's and stays.
func removeDumpLeftovers(dir, base string) {
	if !dumpTempsLocked {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // CreateTemp reports what is wrong with dir
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isDumpTemp(base, e.Name()) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		// Without waiting, and only a regular file: a FIFO swapped in
		// since ReadDir would hold the open for ever.
		f, _, err := engine.OpenRegular(openToLook, name)
		if err != nil {
			continue
		}
		// Removed while locked, and only if the name still is the file
		// locked: never a file an export has just created in its place.
		if locked, err := tryLockDump(f); err == nil && locked && sameFile(f, name) {
			_ = os.Remove(name)
		}
		_ = f.Close()
	}
}

// finish closes the dump and, if it is whole, puts it at path; else it
// removes what was written (a partial dump is no dump).
func (d *dumpFile) finish(whole bool) error {
	var err error
	if whole && d.tmp != "" {
		err = d.f.Sync() // before the rename: never an empty file at path after a crash
	}
	if dumpTempsLocked && whole && err == nil && d.tmp != "" {
		// Renamed before the close ends its lock: another export's
		// removeDumpLeftovers never takes a whole dump for a leftover.
		// Its bytes are synced, so the close cannot lose them.
		if err := os.Rename(d.tmp, d.path); err != nil {
			_ = d.f.Close()
			_ = os.Remove(d.tmp)
			return err
		}
		_ = d.f.Close()
		return d.syncName()
	}
	if whole && err == nil && d.tmp == "" {
		// Written in place: a regular file's bytes are synced as a
		// renamed one's are (a FIFO or a device has none to sync).
		if fi, serr := d.f.Stat(); serr == nil && fi.Mode().IsRegular() {
			err = d.f.Sync()
		}
	}
	err = errors.Join(err, d.f.Close())
	if d.tmp == "" {
		if (!whole || err != nil) && !d.existed {
			_ = os.Remove(d.path)
		}
		return err
	}
	if whole && err == nil {
		if err = os.Rename(d.tmp, d.path); err == nil {
			return d.syncName()
		}
	}
	if !whole || err != nil {
		_ = os.Remove(d.tmp)
	}
	return err
}

// syncName fsyncs the directory the dump was renamed in: until then a
// power cut may leave no dump at path (or the earlier one), and export
// must not exit 0.
func (d *dumpFile) syncName() error {
	if err := engine.SyncDir(filepath.Dir(d.path)); err != nil {
		d.placed = true
		return fmt.Errorf("fsync the directory after the rename: %w", err)
	}
	return nil
}

// left says what a failed export leaves at path.
func (d *dumpFile) left() string {
	if d.placed {
		undo := "no " + d.path + " would be there"
		if d.existed {
			undo = "the earlier " + d.path + " would be there again"
		}
		return d.path + " is the whole dump (a power cut may undo that: " + undo + ")"
	}
	if d.existed && d.tmp != "" {
		return d.path + " left as it was"
	}
	if d.existed {
		return "partial " + d.path + " left (written in place)"
	}
	return "partial " + d.path + " removed"
}

// dumpRefused reports whether an import failed on what the dump holds
// (as opposed to opening or creating the file, whose error names it).
func dumpRefused(err error) bool {
	for _, e := range []error{ckpt.ErrDump, ckpt.ErrExists, ckpt.ErrFormatVersion, ckpt.ErrCorrupt, ckpt.ErrInvalidConfig, ckpt.ErrKey, ckpt.ErrEncode} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func describeDump(d ckpt.DumpSummary) string {
	return strings.Join([]string{count(d.Threads, "thread", "threads"), count(d.Checkpoints, "checkpoint", "checkpoints"),
		count(d.Values, "channel value", "channel values"), count(d.Writes, "pending write", "pending writes")}, ", ")
}

// notTheStore refuses an --output that is a directory, or the store file
// (by any name) or its write-ahead log: os.Create would truncate the store under the
// export (and a failed export then removes its output), or leave a dump
// where the next Open reads a log.
func notTheStore(store, out string) error {
	outAbs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	outInfo, outErr := os.Stat(out)
	if outErr == nil && outInfo.IsDir() {
		// As backup says of a directory: a mistyped path, before the
		// store is opened.
		return usageError{fmt.Sprintf("--output %s is a directory; give the dump's file name", out)}
	}
	for _, own := range []string{store, store + "-wal"} {
		ownAbs, err := filepath.Abs(own)
		same := err == nil && ownAbs == outAbs
		if fi, err := os.Stat(own); err == nil && outErr == nil && os.SameFile(fi, outInfo) {
			same = true
		}
		if same {
			return usageError{fmt.Sprintf("--output %s is the store file or its log; write the dump elsewhere", out)}
		}
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
