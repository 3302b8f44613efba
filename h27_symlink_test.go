package ckpt

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStoreLinkRelativeUnderLinkedDir: a relative link whose target climbs
// with ".." and that sits in a directory reached through another link
// (dirlink -> real/sub, real/sub/agent.db -> ../data/agent.db) names the
// file the kernel finds, real/data/agent.db. On main followLinks joined
// the target to the unresolved directory lexically (dirlink/../data =
// data), so Open went to another path: a new, empty store there (the
// user's checkpoints not found, ErrNotFound) or an error when that
// directory does not exist.
func TestStoreLinkRelativeUnderLinkedDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"real/sub", "real/data", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "real", "data", "agent.db")
	s, err := Open(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "data", "agent.db"), filepath.Join(dir, "real", "sub", "agent.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("real", "sub"), filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "dirlink", "agent.db")
	w, err := Open(link, Options{})
	if err != nil {
		t.Fatalf("Open through %s: %v", link, err)
	}
	checkLoads(t, w, "t", ids)
	if got, err := filepath.EvalSymlinks(w.Path()); err != nil || !sameFile(t, got, file) {
		t.Errorf("Path() = %s (%v), want the file %s", w.Path(), err, file)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "agent.db")); err == nil {
		t.Errorf("Open through the link created a store at %s", filepath.Join(dir, "data", "agent.db"))
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// TestLogLinkDanglingIsRefused: a killed store's log path is a symbolic
// link into another directory (the log kept on another disk) whose target
// is gone (that disk not mounted, the file deleted). The file says its log
// is live, and there is no log: Open must refuse it as a missing log. On
// main LogAbsent looked at the link itself (Lstat), found it present, and
// the read of the log through it found nothing: the file opened with no
// error and without the checkpoints the log held.
func TestLogLinkDanglingIsRefused(t *testing.T) {
	t.Parallel()
	path, _ := lostLogFile(t, "log deleted")
	if err := os.Symlink(filepath.Join(t.TempDir(), "elsewhere", "s.db-wal"), path+walSuffix); err != nil {
		t.Fatal(err)
	}
	checkLogMissingRefused(t, path)
	st, err := RecoverLog(path, Options{})
	if err != nil || !st.LogMissing {
		t.Fatalf("RecoverLog = %+v, %v; want the file accepted (LogMissing)", st, err)
	}
}

// TestStoreLinkLoopIsAnError: a store path in a loop of symbolic links
// (a -> b -> a), for Open, RecoverLog and BackupFile's destination, is an
// error, not a hang, a panic or a store created somewhere.
func TestStoreLinkLoopIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	if err := os.Symlink("b.db", a); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.db", b); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if s, err := Open(a, Options{ReadOnly: ro}); err == nil {
			_ = s.Close()
			t.Fatalf("read-only %v: Open of a link loop: no error", ro)
		}
	}
	if _, err := RecoverLog(a, Options{}); err == nil {
		t.Fatal("RecoverLog of a link loop: no error")
	}
	s, err := Open(filepath.Join(dir, "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	saveN(t, s, "t", 0, 1)
	if err := s.BackupFile(t.Context(), a); err == nil {
		t.Fatal("BackupFile to a link loop: no error")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "a.db", "b.db", "s.db", "s.db-wal":
		default:
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
