package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/human"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// app holds what every command shares: its streams and global flags.
type app struct {
	in          io.Reader
	out, errw   io.Writer
	lockTimeout time.Duration
	asJSON      bool
	ctx         context.Context   // cancelled by SIGINT or SIGTERM
	utc         bool              // times in UTC instead of local time
	keyFiles    []string          // --key-file, newest first (rekey.go)
	keyFileOf   map[uint32]string // the --key-file of each key id read
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{in: stdin, out: stdout, errw: stderr, ctx: context.Background()}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ckpt",
		Short: "Crash-and-resume demo and inspection tools for ckpt store files",
		Long: `ckpt runs a crash-and-resume demo of the ckpt checkpoint store and looks
after store files: threads, history, checkpoints, differences, consistency
(verify), space (stats), old history (gc), free pages (compact), copies
(cp, backup), export and import, repair (recover) and keys (rekey).

Start with:  ckpt demo   (then: ckpt log demo.db demo)

A name that is not printable UTF-8 (a thread id, namespace or channel) is
printed Go-quoted, "b\xff\xfex" (in --json, one that is not UTF-8), and
every command takes it back in that form: ckpt log demo.db '"b\xff\xfex"'.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	// 'ckpt --version' is the usual guess: print what 'ckpt version' does.
	root.Version = buildVersion().text()
	root.SetVersionTemplate("{{.Version}}")
	a.lockTimeout = time.Second
	root.PersistentFlags().Var(durationFlag{&a.lockTimeout}, "lock-timeout",
		"how long to wait for a file another process holds before giving up")
	root.PersistentFlags().BoolVar(&a.utc, "utc", false, "print times in UTC instead of local time")
	root.PersistentFlags().StringArrayVar(&a.keyFiles, "key-file", nil, keyFileHelp)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		msg := err.Error()
		// pflag passes strconv's words on for a boolean flag (not
		// wrapped): "strconv.ParseBool: parsing "x": invalid syntax".
		if i := strings.Index(msg, "strconv.ParseBool: "); i >= 0 {
			msg = msg[:i] + "want true or false"
		}
		msg = withFlagGuess(c, msg)
		return usageError{fmt.Sprintf("%s: %s", c.Name(), msg)}
	})
	for _, newCmd := range commands {
		root.AddCommand(newCmd(a))
	}
	usageHelpCommands(root)
	return root
}

// addJSON gives a read command its --json flag.
func (a *app) addJSON(c *cobra.Command) {
	c.Flags().BoolVar(&a.asJSON, "json", false, "print machine-readable JSON")
}

// argsBetween checks the number of positional arguments and says how to
// call the command when it is wrong.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < min || max >= 0 && len(args) > max {
			return usageError{fmt.Sprintf("%s takes %s, got %s; usage: %s", c.Name(), argCount(min, max), gotArgs(args), c.UseLine())}
		}
		return nil
	}
}

// argCount says how many arguments a command takes.
func argCount(min, max int) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case max == 0:
		return "no arguments"
	case min == max:
		return plural(min)
	case max < 0:
		return "at least " + plural(min)
	case max == min+1:
		return fmt.Sprintf("%d or %d arguments", min, max)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

// gotArgs lists the arguments given, quoted, so an extra or a missing one
// shows.
func gotArgs(args []string) string {
	if len(args) == 0 {
		return "none"
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf("%d (%s)", len(args), strings.Join(q, " "))
}

// threadsAt checks, after the argument count, that the positional
// arguments from first on (to the end when last < 0, else to last) are
// thread ids the store accepts. An empty one is the usual slip (a shell
// variable that was not set), and to the library an empty ThreadID in a
// listing means every thread: refuse it here, before any file is opened.
func threadsAt(count cobra.PositionalArgs, first, last int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := count(c, args); err != nil {
			return err
		}
		end := len(args)
		if last >= 0 && last+1 < end {
			end = last + 1
		}
		for i := first; i < end; i++ {
			// The printed form of a name is taken back (nameArg); RunE
			// gets this slice.
			args[i] = nameArg(args[i])
			if err := checkThreadArg(args[i]); err != nil {
				return usageError{err.Error()}
			}
		}
		return nil
	}
}

// checkThreadArg is saverkit.CheckThread in the command's words: what is
// wrong and what to give instead, without the library's "invalid config".
func checkThreadArg(id string) error {
	if id == "" {
		return errors.New("thread id is empty ('ckpt threads FILE' lists the threads)")
	}
	if err := saverkit.CheckThread(id); err != nil {
		return fmt.Errorf("thread id is %d bytes, the limit is %d", len(id), saverkit.MaxThreadIDLen)
	}
	return nil
}

// openRead opens a store file read-only, or says plainly why it cannot.
func (a *app) openRead(path string) (*ckpt.Store, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	enc, err := a.encryption()
	if err != nil {
		return nil, err
	}
	var s *ckpt.Store
	err = a.whileHeld(path, func(timeout time.Duration) (err error) {
		s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true, LockTimeout: timeout, Encryption: enc})
		return err
	})
	return s, a.openError(path, err)
}

// openWrite opens (or creates) a store file for writing.
func (a *app) openWrite(path string) (*ckpt.Store, error) { return a.openWriteAfter(path, nil) }

// openWriteAfter is openWrite running ready, if set, after the read-only
// checks of an existing file and before the read-write open, which
// writes to the file: a command that refuses its input there leaves the
// file as it was.
func (a *app) openWriteAfter(path string, ready func() error) (*ckpt.Store, error) {
	return a.openWriteLook(path, nil, ready)
}

// errNoWrite, from openWriteLook's look, ends the open without opening the
// file for writing: the command has nothing to write.
var errNoWrite = errors.New("nothing to write")

// openWriteLook is openWriteAfter running look, if set, on the read-only
// store of an existing file its checks found whole, before that store is
// closed: a look returning errNoWrite ends it there, the file
// byte-identical (a read-write open alone writes to it: Open commits the
// log's binding to the file and Close clears it).
func (a *app) openWriteLook(path string, look func(ro *ckpt.Store) error, ready func() error) (*ckpt.Store, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a store file", path)
	} else if err == nil && st.Size() > 0 {
		// Look at an existing file read-only first: a damaged or truncated
		// file is then reported precisely, where opening it for writing
		// would only fail somewhere inside bbolt.
		s, err := a.openRead(path)
		if err != nil {
			return nil, err
		}
		whole, err := a.logOntoDamage(s, path)
		if err == nil && whole && look != nil {
			err = look(s)
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	if ready != nil {
		if err := ready(); err != nil {
			return nil, err
		}
	}
	enc, err := a.encryption()
	if err != nil {
		return nil, err
	}
	var s *ckpt.Store
	err = a.whileHeld(path, func(timeout time.Duration) (err error) {
		s, err = ckpt.Open(path, ckpt.Options{LockTimeout: timeout, Encryption: enc})
		return err
	})
	if noRoom(err) {
		// Open writes to the file (its meta, the log's first bytes)
		// before the command runs; "file too large" alone reads as if
		// the store were, where the limit or the disk is what is short.
		return nil, fmt.Errorf("%w (no room to open it for writing: free space on its disk or within your disk quota, or raise the file size limit, ulimit -f); %s left as it was", a.openError(path, err), path)
	}
	return s, a.writeOpenError(path, err)
}

// logOntoDamage refuses a file that holds a log a writer left unapplied
// (it was killed, or its Close failed) when the file is damaged: opening
// it for writing applies the log, and bbolt's writes onto damaged pages
// (keys out of order: its inserts and deletes trust the order) make the
// damage grow, an index entry lost, a cycle of pages no Open gets past,
// before the command itself meets the damage and fails saying the file
// was left as it was. A read-only open reads the log without applying
// it, so Verify sees the file as it is; it runs only when a log is there
// (a file closed cleanly has none to apply).
//
// Without a log the pages alone are checked (VerifyOptions.PagesOnly):
// bbolt's writes trust them, and on a branch key other than its child's
// first key a delete finds nothing (gc exited 0 having deleted less than
// it counted) or a rewrite frees a page twice.
//
// whole: the check found nothing wrong.
func (a *app) logOntoDamage(s *ckpt.Store, path string) (whole bool, err error) {
	st, err := os.Stat(path + "-wal")
	logged := err == nil && st.Size() > 0
	rep, err := s.Verify(a.ctx, ckpt.VerifyOptions{PagesOnly: !logged})
	if err != nil || rep.OK() {
		return err == nil, err
	}
	if !logged && !slices.ContainsFunc(rep.Problems, func(p ckpt.Problem) bool {
		// The pages a write trusts: not a damaged meta page (opening
		// for writing refuses it, pointing to 'ckpt recover'), nor pages
		// leaked (bbolt's "unreachable unfreed"), which hold nothing a
		// write reads (compact gives them back).
		return strings.HasPrefix(p.Detail, "page check: ") && !strings.Contains(p.Detail, "unreachable unfreed")
	}) {
		return false, nil
	}
	if !logged {
		return false, fmt.Errorf("%s is damaged (%s in its pages, the first: %s): a write there would make it worse, so nothing was written and %s is left as it was; 'ckpt verify %s' lists every problem, and the read commands still read it ('ckpt export %s' saves what is readable)",
			path, count(len(rep.Problems), "problem", "problems"), rep.Problems[0], path, path, path)
	}
	return false, fmt.Errorf("%s is damaged (%s, the first: %s) and holds a log its writer left unapplied: applying it onto the damage would change the file further, so nothing was written and %s is left as it was; 'ckpt verify %s' lists every problem, and the read commands still read it ('ckpt export %s' saves what is readable)",
		path, count(len(rep.Problems), "problem", "problems"), rep.Problems[0], path, path, path)
}

// noRoom reports whether err is the disk, a disk quota (EDQUOT) or the
// file size limit (EFBIG) refusing a write: the engine's list
// (engine.NoSpace), which Windows' disk-full errors are on too.
func noRoom(err error) bool {
	return errors.Is(err, ckpt.ErrDiskFull) || engine.NoSpace(err)
}

func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not a store file", path)
	case !st.Mode().IsRegular():
		// Before the size, which a FIFO, a device or a socket gives as 0:
		// it is no file at all, not an empty one.
		return fmt.Errorf("%s is %s, not a store file", path, engine.FileKind(st.Mode()))
	case st.Size() == 0:
		return fmt.Errorf("%s is empty, not a ckpt store", path)
	}
	return foreignFile(path)
}

// openToLook opens a file the command looked at by its path a moment
// before, to read it (os.OpenFile); a test swaps the file in that moment.
var openToLook = os.OpenFile

// foreignFile names a file of another known kind given where a store
// belongs, from its first bytes (none of which a bbolt file starts with),
// and says what to do instead; bbolt itself would only call it invalid.
func foreignFile(path string) error {
	// Opened without waiting and looked at again once open: a FIFO
	// swapped in since checkFile's Stat would hold the open for ever.
	f, _, err := engine.OpenRegular(openToLook, path)
	if kind, no := engine.NotRegular(err); no {
		return fmt.Errorf("%s is %s, not a store file", path, kind)
	}
	if err != nil {
		return nil // opening the store says why, in the usual words
	}
	defer f.Close()
	head := make([]byte, 32)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return fmt.Errorf("%s is an SQLite database, not a ckpt store", path)
	case bytes.HasPrefix(head, []byte(`{"ckpt_export":`)):
		return fmt.Errorf("%s is a dump written by 'ckpt export', not a store: 'ckpt import NEW.db %s' reads it into a new store", path, path)
	case bytes.HasPrefix(head, []byte("ckpt-wal")):
		return fmt.Errorf("%s is a store's write-ahead log, not the store: give the store file beside it (%s)", path, strings.TrimSuffix(path, "-wal"))
	}
	return nil
}

// recoverAPI is how the library's errors name the way out of damage that
// 'ckpt recover FILE' repairs.
const recoverAPI = "`ckpt recover` (ckpt.RecoverLog)"

// heldError is openError's word for a file another process holds; it is
// ckpt.ErrLocked for errors.Is, so a command can say more (backup).
type heldError struct{ msg string }

func (e heldError) Error() string { return e.msg }
func (e heldError) Unwrap() error { return ckpt.ErrLocked }

func (a *app) openError(path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ckpt.ErrLocked):
		return heldError{fmt.Sprintf("%s is held by another process (a program has the store open); stop that program or wait for it to close the store, then retry (gave up after %v; --lock-timeout waits longer)", path, a.lockTimeout)}
	case strings.Contains(err.Error(), "file size too small"): // bbolt's, with no sentinel
		return fmt.Errorf("%s is not a ckpt store (%d bytes: too small to be one)", path, fileSize(path))
	case errors.Is(err, ckpt.ErrCorrupt):
		detail := openDetail(path, err)
		if strings.Contains(detail, recoverAPI) {
			// Damage that recover repairs (a log, a meta page): the file is
			// a store, and the way out is a command to type.
			detail = strings.ReplaceAll(detail, recoverAPI, "'ckpt recover "+path+"'")
			if log, ok := strings.CutPrefix(detail, "write-ahead log "); ok {
				if strings.Contains(log, " may not be this store's: ") {
					// Its binding damaged, nothing in the file names the
					// log (LogDamage.Unverified).
					return fmt.Errorf("%s has a write-ahead log that may not be its own (%s)", path, log)
				}
				if strings.Contains(log, " is not this store's: ") {
					// No byte need be damaged: a log swapped in, or left
					// beside a restored backup (LogDamage.Foreign).
					return fmt.Errorf("%s has a write-ahead log that is not its own (%s)", path, log)
				}
				return fmt.Errorf("%s has a damaged write-ahead log (%s)", path, log)
			}
			return fmt.Errorf("%s is damaged (%s)", path, detail)
		}
		if detail == "not a ckpt store (no format marker)" {
			// A bbolt file without ckpt's marker: said once, with what it
			// is likely to be.
			return fmt.Errorf("%s is not a ckpt store (no format marker): another program's bbolt file, or a store whose marker is damaged", path)
		}
		return fmt.Errorf("%s is not a ckpt store, or it is damaged (%s)", path, detail)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Open wraps the OS error, which names the path again; or the
		// log beside it, which is then the file to name.
		if pe.Path == path+"-wal" {
			if _, serr := os.Lstat(pe.Path); errors.Is(pe.Err, fs.ErrPermission) && errors.Is(serr, fs.ErrNotExist) {
				// Creating the log failed: say why a command wanted a
				// file nobody named.
				return fmt.Errorf("%s: %v (a store opened for writing keeps its log beside the file: %s needs write permission)", pe.Path, pe.Err, filepath.Dir(path))
			}
			return fmt.Errorf("%s: %v", pe.Path, pe.Err)
		}
		if d := filepath.Dir(path); errors.Is(pe.Err, fs.ErrNotExist) && !isDir(d) {
			// A file to create in a directory that is not there: "no
			// such file" read as if the file were what was missing
			// (backup and export -o say it the same way).
			return fmt.Errorf("%s: no directory %s", path, d)
		}
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return err
}

// closeStore closes s, keeping the first error, and adding a failure of
// the store (ErrFailed) to it. A Close that could not
// apply the log for want of room (ErrDiskFull, not ErrFailed) after a
// command that succeeded is a warning, not the command's failure: what
// the command wrote is in the log, fsync'd, and the next Open applies it.
// Exiting 1 there told scripts the write failed while it stays (an import
// reported failed, then every thread of it in the file).
func (a *app) closeStore(s *ckpt.Store, err *error) {
	cerr := s.Close()
	switch {
	case cerr == nil:
	case *err == nil && errors.Is(cerr, ckpt.ErrDiskFull) && !errors.Is(cerr, ckpt.ErrFailed):
		// One line, in the words of the command's errors (oneLine).
		fmt.Fprintln(a.errw, "warning: "+strings.TrimPrefix(oneLine(cerr), "ckpt: "))
	case *err == nil && errors.Is(cerr, ckpt.ErrFailed) && !s.ReadOnly():
		// The command succeeded: every write it made was acknowledged
		// (in the log, fsync'd) before the store failed, applying them
		// or closing. Still exit 1: the disk reported an error.
		*err = failedAfter{fmt.Sprintf("%s: the store failed after the command succeeded (%s): what it wrote was acknowledged and is kept, "+
			"in the file or its write-ahead log, which the next open applies", s.Path(), failureCause(cerr)), cerr}
	case *err == nil:
		*err = cerr
	case errors.Is(cerr, ckpt.ErrFailed) && !errors.Is(*err, ckpt.ErrFailed) && !s.ReadOnly():
		// The command failed, and then so did the store: the first
		// error alone hid that the disk reported one (run adds what to
		// run on the file). What it had written, an undo included, was
		// acknowledged, in the log.
		then := fmt.Sprintf("and the store failed (%s): the writes it had acknowledged are kept, in %s or its write-ahead log, which the next open applies",
			failureCause(cerr), s.Path())
		if ie, ok := errors.AsType[interruptedError](*err); ok {
			// Its line is printed alone (exit 130): it says it all.
			*err = interruptedError{failedAdvice(ie.msg+"; "+then, s.Path(), cerr)}
			return
		}
		*err = bothErrors{(*err).Error() + "; " + then, []error{*err, cerr}}
	}
}

// bothErrors is a command's error followed by its store's failure as it
// closed: errors.Is and errors.As find either.
type bothErrors struct {
	msg  string
	errs []error
}

func (e bothErrors) Error() string   { return e.msg }
func (e bothErrors) Unwrap() []error { return e.errs }

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table returns a writer that aligns tab-separated columns; Flush it.
func (a *app) table() *tabwriter.Writer { return a.tableOn(a.out) }

func (a *app) tableOn(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// stderrIsTerminal reports whether progress bars may be drawn.
func (a *app) stderrIsTerminal() bool {
	f, ok := a.errw.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) stdoutIsTerminal() bool {
	f, ok := a.out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress returns a counter shown on stderr while work runs, only when
// stderr is a terminal; otherwise a no-op. total < 0 means unknown.
func (a *app) progress(total int64, what string) *progress {
	if !a.stderrIsTerminal() {
		return &progress{pause: a.pauseAtProgress()}
	}
	return &progress{pause: a.pauseAtProgress(), bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.errw),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)}
}

type progress struct {
	bar   *progressbar.ProgressBar
	pause func() // run once, at the first report (see pauseEnv)
}

func (p *progress) set(n int64) {
	if p.pause != nil {
		pause := p.pause
		p.pause = nil
		pause()
	}
	if p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// humanBytes and nsLabel are internal/human's, shared with the history browser.
var (
	humanBytes = human.Bytes
	nsLabel    = human.NS
)

// count says n things in words, "1 thread" or "2 threads" (human.Count).
func count[N human.Integer](n N, one, many string) string { return human.Count(n, one, many) }

func joinNS(nss []string) string {
	labels := make([]string, len(nss))
	for i, ns := range nss {
		labels[i] = nsLabel(ns)
	}
	return strings.Join(labels, ",")
}

// bufferedOut wraps stdout in a buffer for commands that print a lot.
func (a *app) bufferedOut() (*bufio.Writer, func() error) {
	w := bufio.NewWriterSize(a.out, 64<<10)
	return w, w.Flush
}
