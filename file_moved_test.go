package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteAfterItsFileWasRemovedFails: a store's file or its log removed
// or renamed while the store has it open (a cleanup script, an operator's
// rm or mv). The store went on writing to the unlinked file and
// acknowledged every Sync write, all lost when the process ended (found
// by hand: a writer saving every 5 ms acknowledged 125 saves after
// `rm s.db-wal`, 63 after `rm s.db`, and a reopen had none of them).
// SQLite refuses writes to a database moved since open
// (SQLITE_READONLY_DBMOVED). A write after the removal must fail
// (ErrFailed), and each write acknowledged before it must still read
// after Close and the reopen the error's advice gives.
func TestWriteAfterItsFileWasRemovedFails(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		nowal  bool
		remove func(path string) error
	}{
		{"log removed", false, func(p string) error { return os.Remove(p + walSuffix) }},
		{"log renamed", false, func(p string) error { return os.Rename(p+walSuffix, p+".old-wal") }},
		{"file removed", false, os.Remove},
		{"file renamed", false, func(p string) error { return os.Rename(p, p+".old") }},
		{"NoWAL file removed", true, os.Remove},
		{"NoWAL file renamed", true, func(p string) error { return os.Rename(p, p+".old") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{NoWAL: c.nowal})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var acked []string
			for i := range 3 {
				id, err := s.Save(ctx, "t", map[string]any{"i": i}, nil)
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, id)
			}
			if err := c.remove(path); err != nil {
				t.Skipf("cannot remove or rename an open file here: %v", err)
			}
			_, err = s.Save(ctx, "t", map[string]any{"i": 3}, nil)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Save after the %s: %v, want ErrFailed: it would be acknowledged into a file no reopen reads", c.name, err)
			}
			t.Logf("Save: %v", err)
			_ = s.Close()
			// What a reopen at the path of the moved file reads is the
			// user's business; the file as it now lies must still hold
			// every acknowledged write, where one is left.
			for _, p := range []string{path, path + ".old"} {
				if _, err := os.Stat(p); err != nil {
					continue
				}
				checkAcked(t, p, acked)
			}
		})
	}
}

// checkAcked opens path read-only (after `ckpt recover`'s RecoverLog if
// its log is missing) and checks that thread t's history holds acked.
func checkAcked(t *testing.T, path string, acked []string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		if _, rerr := RecoverLog(path, Options{}); rerr != nil {
			t.Fatalf("%s: Open: %v; RecoverLog: %v", path, err, rerr)
		}
		if s, err = Open(path, Options{ReadOnly: true}); err != nil {
			t.Fatalf("%s: Open after RecoverLog: %v", path, err)
		}
	}
	defer s.Close()
	for _, id := range acked {
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id}); err != nil {
			t.Errorf("%s: acknowledged checkpoint %s: %v", path, id, err)
		}
	}
}

// TestWritesGoOnAfterCompact: Compact puts a new file at the store's path
// (a rename over it): the store writes on, and a removal after it is
// still seen (the file it holds is the new one).
func TestWritesGoOnAfterCompact(t *testing.T) {
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"i": 0}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"i": 1}, nil); err != nil {
			t.Fatalf("NoWAL %v: Save after Compact: %v", nowal, err)
		}
		if err := os.Remove(path); err != nil {
			t.Skipf("cannot remove an open file here: %v", err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"i": 2}, nil); !errors.Is(err, ErrFailed) {
			t.Fatalf("NoWAL %v: Save after Compact and a removal: %v, want ErrFailed", nowal, err)
		}
		_ = s.Close()
	}
}

// TestWritesGoOnAfterChdir: a store opened at a relative path, and the
// process's working directory changed after (a server that daemonises, a
// test's t.Chdir). The look that the store's files are still at their
// paths must resolve the path as Open did, not against the new working
// directory, where there is no store: every write would fail.
func TestWritesGoOnAfterChdir(t *testing.T) {
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		dir := t.TempDir()
		t.Chdir(dir)
		s, err := Open("s.db", Options{NoWAL: nowal})
		if err != nil {
			t.Fatal(err)
		}
		t.Chdir(t.TempDir())
		if _, err := s.Save(ctx, "t", map[string]any{"i": 1}, nil); err != nil {
			t.Fatalf("NoWAL %v: Save after a chdir: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMovedFileErrorSaysWhatHappened: the error a write gets once the
// store's file or log was moved under it. It read "store failed after an
// I/O error; reopen it: ckpt: write-ahead log: fsync: the write-ahead log
// ... was removed", twice over (the erase of the failed records joined
// the same cause): no I/O failed, no fsync did, and a reopen before Close
// (or after a removal of the store's file) is not what keeps the writes.
// It must still be ErrFailed, name the file once, say what was done to
// it, and give advice that holds: Close keeps what was acknowledged into
// the store's file, and a removed store's file is copied out by Export
// (into ImportFile) before the store is closed (Backup refuses a stopped
// store).
func TestMovedFileErrorSaysWhatHappened(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, moved string
		nowal       bool
		remove      func(path string) error
		want        []string
	}{
		{"log removed", walSuffix, false, func(p string) error { return os.Remove(p + walSuffix) }, []string{"write-ahead log", "Close"}},
		{"file removed", "", false, os.Remove, []string{"store's file", "Export"}},
		{"file renamed", "", false, func(p string) error { return os.Rename(p, p+".old") }, []string{"store's file", "move it back"}},
		{"NoWAL file removed", "", true, os.Remove, []string{"store's file", "Export"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{NoWAL: c.nowal})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			id, err := s.Save(ctx, "t", map[string]any{"i": 0}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.remove(path); err != nil {
				t.Skipf("cannot remove or rename an open file here: %v", err)
			}
			_, err = s.Save(ctx, "t", map[string]any{"i": 1}, nil)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Save: %v, want ErrFailed", err)
			}
			msg := err.Error()
			for _, untrue := range []string{"I/O error", "fsync", "reopen it"} {
				if strings.Contains(msg, untrue) {
					t.Errorf("the error says %q, not true of a file moved: %s", untrue, msg)
				}
			}
			for _, w := range append([]string{"removed or renamed", "stopped taking writes"}, c.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("the error lacks %q: %s", w, msg)
				}
			}
			if n := strings.Count(msg, path+c.moved); n != 1 {
				t.Errorf("the error names %s %d times, want once: %s", path+c.moved, n, msg)
			}
			if strings.Contains(msg, "Export") {
				// The advice holds: the export of the stopped store, made
				// a store, has the write acknowledged before.
				var buf bytes.Buffer
				if _, err := s.Export(ctx, &buf, ExportOptions{}); err != nil {
					t.Fatalf("Export of the stopped store: %v", err)
				}
				out := filepath.Join(t.TempDir(), "out.db")
				if _, err := ImportFile(ctx, out, &buf, Options{}, ImportOptions{}); err != nil {
					t.Fatal(err)
				}
				checkAcked(t, out, []string{id})
			}
			if !errors.Is(s.Close(), ErrFailed) {
				t.Error("Close of the stopped store: not ErrFailed")
			}
		})
	}
}

// TestWriteAfterItsFileWasOverwrittenFails: the store's file, or its log,
// overwritten in place while the store runs (`cp other.db s.db`, `cp
// backup.db s.db` as an operator "restores" under a running service, `cp
// other.db-wal s.db-wal`: the same inode, other bytes), which the look at
// the paths (inode only) cannot see. The store went on acknowledging Sync
// writes: a child saving every 2 ms was acknowledged 14-17 saves after
// the cp, and the reopen the error advises refuses the log as not this
// file's (its identity is the other store's); `ckpt recover` then drops
// them all. A write after the overwrite must fail (ErrFailed), as after a
// move, and say what happened. The store's file overwritten, nothing more
// is written into it (Close does not apply the log's groups into the
// copy: its bytes are the operator's); the log overwritten, Close puts
// every write acknowledged before into the store's file, which a reopen
// reads.
func TestWriteAfterItsFileWasOverwrittenFails(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		nowal bool
		log   bool // the log overwritten, not the store's file
		older bool // an older copy of this store, not another store's file
		// del: after the copy was taken, the store only deleted a thread
		// (the newest key of each top-level bucket is the copy's too)
		del bool
	}{
		{"file by another store's", false, false, false, false},
		{"file by an older copy", false, false, true, false},
		{"file by an older copy, a deletion since", false, false, true, true},
		{"NoWAL file by another store's", true, false, false, false},
		{"NoWAL file by an older copy", true, false, true, false},
		{"NoWAL file by an older copy, a deletion since", true, false, true, true},
		{"log by another store's log", false, true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path, other := filepath.Join(dir, "s.db"), filepath.Join(dir, "other.db")
			o, err := Open(other, Options{NoWAL: c.nowal})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			for i := range 5 {
				if _, err := o.Save(ctx, "o", map[string]any{"x": i}, nil); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(path, Options{NoWAL: c.nowal})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var acked []string
			save := func(i int) {
				t.Helper()
				id, err := s.Save(ctx, "t", map[string]any{"i": i}, nil)
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, id)
			}
			if c.del {
				if _, err := s.Save(ctx, "a", map[string]any{"a": 1}, nil); err != nil {
					t.Fatal(err)
				}
			}
			save(0)
			src := other
			if c.older {
				src = filepath.Join(dir, "backup.db")
				if err := s.BackupFile(ctx, src); err != nil {
					t.Fatal(err)
				}
			}
			if c.del {
				if err := s.DeleteThread(ctx, "a"); err != nil {
					t.Fatal(err)
				}
			} else {
				for i := 1; i < 4; i++ {
					save(i)
				}
			}
			var b []byte
			if c.log {
				// The other store is open: its log holds its writes.
				b, err = os.ReadFile(other + walSuffix)
			} else {
				if !c.nowal {
					// The applier idle: nothing writes the file between
					// the cp and the next write's look.
					if err := s.ApplyLog(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if err := o.Close(); err != nil {
					t.Fatal(err)
				}
				b, err = os.ReadFile(src)
			}
			if err != nil {
				t.Fatal(err)
			}
			dst := path
			if c.log {
				dst = path + walSuffix
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil { // cp: same inode
				t.Fatal(err)
			}
			_, err = s.Save(ctx, "t", map[string]any{"i": 4}, nil)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Save after the store's %s was overwritten: %v, want ErrFailed: the write would be acknowledged and lost", c.name, err)
			}
			msg := err.Error()
			for _, w := range []string{"overwritten", "stopped taking writes", dst} {
				if !strings.Contains(msg, w) {
					t.Errorf("the error lacks %q: %s", w, msg)
				}
			}
			for _, untrue := range []string{"I/O error", "fsync", "removed or renamed"} {
				if strings.Contains(msg, untrue) {
					t.Errorf("the error says %q, not true of a file overwritten: %s", untrue, msg)
				}
			}
			t.Logf("Save: %v", err)
			if !errors.Is(s.Close(), ErrFailed) {
				t.Error("Close of the stopped store: not ErrFailed")
			}
			if c.log {
				// The store's file kept its bytes: Close put the writes
				// acknowledged before into it.
				checkAcked(t, path, acked)
				return
			}
			now, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(now, b) {
				t.Errorf("the store wrote into the file copied over its own (%d bytes, were %d): the copy is the operator's", len(now), len(b))
			}
		})
	}
}
