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

// A store killed with groups logged and not yet applied, whose file is
// then opened without that log (copied, renamed or hard-linked without its
// -wal, or the -wal deleted): on main it opened with the acknowledged
// groups gone and no error.

// lostLogFile returns the file of a store killed with 3 groups in its log
// only (after 2 in the file), placed without its log as how says, and the
// ids of the 3 the log held.
func lostLogFile(t *testing.T, how string) (path string, inLog []string) {
	t.Helper()
	base := appliedStore(t, 2)
	s := openUnapplied(t, base)
	inLog = saveN(t, s, "t", 2, 3)
	file := crashCopy(t, s)                       // the file and its log, as a kill leaves them
	r, err := Open(file, Options{ReadOnly: true}) // the pair reads whole
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, r, "t", inLog)
	_ = r.Close()
	other := filepath.Join(t.TempDir(), "other.db")
	switch how {
	case "copy":
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other, data, 0o600); err != nil {
			t.Fatal(err)
		}
		path = other
	case "hard link":
		if err := os.Link(file, other); err != nil {
			t.Fatal(err)
		}
		path = other
	case "rename":
		if err := os.Rename(file, other); err != nil {
			t.Fatal(err)
		}
		path = other
	case "log deleted":
		if err := os.Remove(file + walSuffix); err != nil {
			t.Fatal(err)
		}
		path = file
	default:
		t.Fatalf("how %q", how)
	}
	return path, inLog
}

// checkLogMissingRefused: every kind of Open of path fails with ErrCorrupt
// naming `ckpt recover`, and changes nothing.
func checkLogMissingRefused(t *testing.T, path string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logBefore, logErr := os.ReadFile(path + walSuffix) // none, or an emptied one
	for _, o := range []struct {
		name string
		opts Options
	}{{"read-write", Options{}}, {"read-only", Options{ReadOnly: true}}, {"NoWAL", Options{NoWAL: true}}} {
		s, err := Open(path, o.opts)
		if err == nil {
			n := 0
			for _, err := range s.History(context.Background(), "t", ListOptions{}) {
				if err == nil {
					n++
				}
			}
			_ = s.Close()
			t.Fatalf("%s Open of a file whose log is missing: no error (%d checkpoints of thread t)", o.name, n)
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ckpt recover") || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("%s Open of a file whose log is missing: %v, want ErrCorrupt saying the log is missing and naming ckpt recover", o.name, err)
		}
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("a refused Open changed the file (%v)", err)
	}
	logAfter, err := os.ReadFile(path + walSuffix)
	switch {
	case logErr != nil && err == nil:
		t.Fatal("a refused Open made a log")
	case logErr == nil && (err != nil || !bytes.Equal(logBefore, logAfter)):
		t.Fatalf("a refused Open changed the log (%v)", err)
	}
}

func TestLostLogIsRefused(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"copy", "hard link", "rename", "log deleted"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			path, _ := lostLogFile(t, how)
			checkLogMissingRefused(t, path)
			if st, err := RecoverLog(path, Options{}); err != nil || !st.LogMissing {
				t.Fatalf("RecoverLog: %+v, %v; want LogMissing", st, err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open after RecoverLog: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCleanCloseThenCopyWithoutLogOpens: after a clean Close (and after
// one following a Compact) the file alone is the whole store: no false
// refusal.
func TestCleanCloseThenCopyWithoutLogOpens(t *testing.T) {
	t.Parallel()
	for _, compact := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 4)
		if compact {
			if _, err := s.Compact(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, saveN(t, s, "t", 4, 2)...)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}, {}} {
			cp := filepath.Join(t.TempDir(), "copy.db")
			if err := os.WriteFile(cp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := Open(cp, opts)
			if err != nil {
				t.Fatalf("compact %v, %+v: a cleanly closed file copied alone: %v", compact, opts, err)
			}
			checkLoads(t, r, "t", ids)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBackupWithoutLogOpens: a backup (BackupFile and Backup) of a store
// open for writing, and of a read-only store over a killed writer's file
// and log, is a whole store alone: restored with no log, it opens.
func TestBackupWithoutLogOpens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	check := func(t *testing.T, s *Store, ids []string) {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "backup.db")
		if err := s.BackupFile(ctx, dst); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := s.Backup(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		streamed := filepath.Join(t.TempDir(), "stream.db")
		if err := os.WriteFile(streamed, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dst, streamed} {
			for _, opts := range []Options{{ReadOnly: true}, {}} {
				r, err := Open(p, opts)
				if err != nil {
					t.Fatalf("the backup %s, restored alone, read-only %v: %v", filepath.Base(p), opts.ReadOnly, err)
				}
				checkLoads(t, r, "t", ids)
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Run("writing store", func(t *testing.T) {
		t.Parallel()
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ids := saveN(t, s, "t", 0, 4)
		check(t, s, ids)
		ids = append(ids, saveN(t, s, "t", 4, 2)...) // the store goes on
		checkLoads(t, s, "t", ids)
	})
	for _, applied := range []bool{false, true} {
		name := "read-only over a killed writer"
		if applied {
			name += ", all applied"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := appliedStore(t, 2)
			w := openUnapplied(t, base)
			ids := saveN(t, w, "t", 2, 3)
			if applied {
				applyNow(t, w)
			}
			file := crashCopy(t, w)
			r, err := Open(file, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			check(t, r, ids)
		})
	}
}

// TestRecoverAcceptsFileWithoutLog: RecoverLog (`ckpt recover`) accepts a
// refused file as it is, says so, and the file then opens with what it
// held (the log's groups are gone: that is what recovery accepts).
func TestRecoverAcceptsFileWithoutLog(t *testing.T) {
	t.Parallel()
	path, inLog := lostLogFile(t, "copy")
	st, err := RecoverLog(path, Options{})
	if err != nil || !st.LogMissing || st.Damaged {
		t.Fatalf("RecoverLog: %+v, %v; want LogMissing", st, err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {}, {}} {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatalf("Open after RecoverLog: %v", err)
		}
		n := 0
		for _, err := range s.History(context.Background(), "t", ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("after RecoverLog thread t has %d checkpoints, want the file's 2", n)
		}
		if _, err := s.Load(context.Background(), "t", inLog[0]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a checkpoint only the lost log held: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := RecoverLog(path, Options{}); err != nil || st.LogMissing {
		t.Fatalf("RecoverLog again: %+v, %v: nothing to do", st, err)
	}
}

// copyPair copies path and its log (if any) to a new directory, as a kill
// at this moment leaves them; the copy's path.
func copyPair(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "at-kill.db")
	for _, suffix := range []string{"", walSuffix} {
		data, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLiveMarkAtEachKill: a kill between Close's commit that clears the
// mark and the log's removal, and one in Open between the new log's
// creation and its binding (after a clean Close, and after a crash with
// groups replayed): the pair opens whole, and the file alone opens whole
// too (it holds everything: no false refusal).
func TestLiveMarkAtEachKill(t *testing.T) {
	t.Parallel()
	checkBoth := func(t *testing.T, pair string, ids []string) {
		t.Helper()
		if _, err := os.Stat(pair + walSuffix); err != nil {
			t.Fatalf("no log at the kill: %v", err)
		}
		alone := filepath.Join(t.TempDir(), "alone.db")
		data, err := os.ReadFile(pair)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(alone, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{pair, alone} {
			s, err := Open(p, Options{})
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(p), err)
			}
			checkLoads(t, s, "t", ids)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("close: cleared, log not yet removed", func(t *testing.T) {
		t.Parallel()
		var at string
		path := filepath.Join(t.TempDir(), "s.db")
		tune := tuning{}
		tune.hooks.HoldApplier = true
		tune.hooks.ClosedClean = func() { at = copyPair(t, path) }
		s, err := Open(path, Options{tuning: &tune})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 3)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkBoth(t, at, ids)
	})
	for _, after := range []string{"clean close", "crash"} {
		t.Run("open: log created, not yet bound, after a "+after, func(t *testing.T) {
			t.Parallel()
			path := appliedStore(t, 2)
			ids := []string{}
			if after == "crash" {
				w := openUnapplied(t, path)
				ids = saveN(t, w, "t", 2, 3)
				path = crashCopy(t, w)
			}
			var at string
			tune := tuning{}
			tune.hooks.CreatedLog = func() { at = copyPair(t, path) }
			s, err := Open(path, Options{tuning: &tune})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkBoth(t, at, ids)
		})
	}
}

// TestFormat7FileWithoutLogOpens: a format-7 file (its binding written,
// the live mark never: older builds did not write it) with no log opens as
// before, read-only and read-write (which upgrades it); after this build
// wrote it and was killed, the file alone is refused.
func TestFormat7FileWithoutLogOpens(t *testing.T) {
	t.Parallel()
	path := format7File(t)
	if _, err := os.Stat(path + walSuffix); err == nil {
		t.Fatal("a log beside the format-7 file")
	}
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatalf("read-only %v: a format-7 file without a log: %v", opts.ReadOnly, err)
		}
		if _, err := s.Latest(context.Background(), "t00"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	w := openUnapplied(t, path)
	saveN(t, w, "t", 0, 2)
	killed := crashCopy(t, w)
	if err := os.Remove(killed + walSuffix); err != nil {
		t.Fatal(err)
	}
	checkLogMissingRefused(t, killed)
}
