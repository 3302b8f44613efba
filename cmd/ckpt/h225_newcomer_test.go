package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Found following the README as a newcomer (h225).

// A mistyped flag is the usual slip after a mistyped command, and the
// command gets "did you mean log?": the flag got only "unknown flag:
// --limt", and the user had to open the help to find --limit.
func TestH225MistypedFlagSuggestsTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "demo.db", "demo", "--limt", "3"}, `ckpt: log: unknown flag: --limt; did you mean --limit? (see 'ckpt log --help')`},
		{[]string{"gc", "demo.db", "--keep-lst", "3"}, `ckpt: gc: unknown flag: --keep-lst; did you mean --keep-last? (see 'ckpt gc --help')`},
		{[]string{"threads", "demo.db", "--lock-timout", "3s"}, `ckpt: threads: unknown flag: --lock-timout; did you mean --lock-timeout? (see 'ckpt threads --help')`},
		{[]string{"diff", "demo.db", "demo", "a", "b", "--colour", "never"}, `ckpt: diff: unknown flag: --colour; did you mean --color? (see 'ckpt diff --help')`},
		{[]string{"demo", "--crash", "2"}, `ckpt: demo: unknown flag: --crash; did you mean --crash-after? (see 'ckpt demo --help')`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, exitUsage, c.want)
	}
	// Nothing near: no guess.
	r := runIn(t, dir, "", "log", "demo.db", "demo", "--zzzzzz")
	failsWith(t, r, exitUsage, `ckpt: log: unknown flag: --zzzzzz (see 'ckpt log --help')`)
}

// A write command on a file it may not write, or a new file in a
// directory it may not write, said only "FILE: permission denied": not
// that the command opens the file for writing (the read commands read
// the same file), nor, for a file to create, that the directory is what
// refused. (As root no permission is refused, so the error is made here.)
func TestH225PermissionDeniedSaysWhatNeedsIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "demo.db")
	if err := os.WriteFile(existing, []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	denied := func(path string) error {
		return fmt.Errorf("open store: %w", &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES})
	}
	a := newApp(nil, nil, nil)
	err := a.writeOpenError(existing, denied(existing))
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("want an error wrapping fs.ErrPermission, got %v", err)
	}
	want := existing + ": permission denied (this command writes to it: it needs write permission on " + existing + "; the read commands, such as log, show and export, still read it)"
	if err.Error() != want {
		t.Fatalf("existing file:\n got %s\nwant %s", err, want)
	}
	missing := filepath.Join(dir, "new.db")
	err = a.writeOpenError(missing, denied(missing))
	want = missing + ": permission denied (creating it needs write permission in " + dir + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("file to create:\n got %v\nwant %s", err, want)
	}
	// import builds a new file beside the path (FILE.import) and links
	// it into place: the directory refused that sibling.
	err = a.writeOpenError(missing, denied(missing+".import"))
	if err == nil || err.Error() != want {
		t.Fatalf("import's file beside the path:\n got %v\nwant %s", err, want)
	}
	// Other errors are openError's, as before.
	other := filepath.Join(dir, "other.db")
	if got, want := a.writeOpenError(other, errors.New("boom")), "boom"; got == nil || got.Error() != want {
		t.Fatalf("other error: got %v, want %s", got, want)
	}
}

// backup into a directory it may not write said "open
// ./bk.db.ckpt-backup-3368839579.tmp: permission denied": Go's words, and
// a temporary file nobody named. export -o says it as "DIR takes no new
// file (permission denied)"; backup now does too.
func TestH225BackupTempFileRefusedNamesTheDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dst := filepath.Join(dir, "bk.db")
	tmp := filepath.Join(dir, "bk.db.ckpt-backup-3368839579.tmp")
	err := backupTempError(dst, dst, fmt.Errorf("backup to %s: %w", dst, &fs.PathError{Op: "open", Path: tmp, Err: syscall.EACCES}))
	want := "backup to " + dst + ": " + dir + " takes no new file (permission denied)"
	if err == nil || err.Error() != want {
		t.Fatalf("\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("want it to wrap fs.ErrPermission: %v", err)
	}
	if strings.Contains(err.Error(), ".tmp") {
		t.Fatalf("names the temporary file: %v", err)
	}
	// Any other error is left as it was.
	other := fmt.Errorf("backup to %s: %w", dst, syscall.ENOSPC)
	if got := backupTempError(dst, dst, other); got != other {
		t.Fatalf("other error changed: %v", got)
	}
}
