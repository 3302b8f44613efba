package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// h217DirFault is a store at a new path, with two saves, whose directory
// fsyncs (Hooks.SyncDir: Compact's and BackupFile's after their rename)
// fail with boom while fail is set.
func h217DirFault(t *testing.T, nowal bool) (s *Store, path string, fail *atomic.Bool, boom error) {
	t.Helper()
	f := newSwapFault()
	boom, fail, tune := f.boom, &f.fail, f.tuning()
	path = filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := range 2 {
		if _, err := s.Save(context.Background(), "t", map[string]any{"v": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, path, fail, boom
}

// replacedIn is the *ReplacedError err wraps, or nil.
func replacedIn(err error) *ReplacedError {
	if re, ok := errors.AsType[*ReplacedError](err); ok {
		return re
	}
	return nil
}

// TestCompactSaysRenameNotDurable: Compact renamed its new file over the
// store's and the directory's fsync failed: its error says so, in a way a
// program can test (ErrNotDurable, and a *ReplacedError naming the path,
// a file there before, the name not durable), beside ErrFailed and the
// cause. The CLI told this apart by comparing inode numbers.
func TestCompactSaysRenameNotDurable(t *testing.T) {
	t.Parallel()
	for _, nowal := range []bool{false, true} {
		s, path, fail, boom := h217DirFault(t, nowal)
		fail.Store(true)
		_, err := s.Compact(context.Background(), nil)
		fail.Store(false)
		if !errors.Is(err, boom) || !errors.Is(err, ErrFailed) {
			t.Fatalf("nowal %v: Compact with a failed directory fsync = %v, want ErrFailed and the cause", nowal, err)
		}
		if !errors.Is(err, ErrNotDurable) {
			t.Errorf("nowal %v: Compact's error after its rename does not wrap ErrNotDurable: %v", nowal, err)
		}
		re := replacedIn(err)
		if re == nil {
			t.Fatalf("nowal %v: Compact's error after its rename has no *ReplacedError: %v", nowal, err)
		}
		if re.Path != path || !re.Earlier || re.Durable {
			t.Errorf("nowal %v: ReplacedError = {Path %q Earlier %v Durable %v}, want {%q true false}", nowal, re.Path, re.Earlier, re.Durable, path)
		}
	}
}

// TestCompactFailedBeforeRenameSaysNothingReplaced: a Compact that fails
// before its rename (the stale temporary name cannot be removed) left the
// path as it was: its error wraps neither ErrNotDurable nor a
// *ReplacedError, and the store goes on.
func TestCompactFailedBeforeRenameSaysNothingReplaced(t *testing.T) {
	t.Parallel()
	s, path, _, _ := h217DirFault(t, false)
	// A directory that is not empty: os.Remove fails on it everywhere.
	if err := os.MkdirAll(filepath.Join(path+".compact", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := s.Compact(context.Background(), nil)
	if err == nil {
		t.Fatal("Compact over a directory at its temporary name succeeded")
	}
	if errors.Is(err, ErrNotDurable) || replacedIn(err) != nil {
		t.Errorf("Compact that failed before its rename says its file was put in place: %v", err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"v": 9}, nil); err != nil {
		t.Errorf("Save after a Compact that failed before its rename: %v", err)
	}
}

// TestBackupFileSaysRenameNotDurable: BackupFile put its whole copy at
// the destination and the directory's fsync failed: the error wraps
// ErrNotDurable and a *ReplacedError naming the destination, Earlier
// saying whether a file was there before (a power cut may bring it back)
// or not (it may leave none).
func TestBackupFileSaysRenameNotDurable(t *testing.T) {
	t.Parallel()
	s, path, fail, boom := h217DirFault(t, false)
	for _, earlier := range []bool{false, true} {
		dst := filepath.Join(filepath.Dir(path), "b.db")
		if earlier {
			if err := s.BackupFile(context.Background(), dst); err != nil {
				t.Fatal(err)
			}
		}
		fail.Store(true)
		err := s.BackupFile(context.Background(), dst)
		fail.Store(false)
		if !errors.Is(err, boom) {
			t.Fatalf("earlier %v: BackupFile with a failed directory fsync = %v, want its cause", earlier, err)
		}
		if !errors.Is(err, ErrNotDurable) {
			t.Errorf("earlier %v: BackupFile's error after its rename does not wrap ErrNotDurable: %v", earlier, err)
		}
		re := replacedIn(err)
		if re == nil {
			t.Fatalf("earlier %v: BackupFile's error after its rename has no *ReplacedError: %v", earlier, err)
		}
		if re.Path != dst || re.Earlier != earlier || re.Durable {
			t.Errorf("ReplacedError = {Path %q Earlier %v Durable %v}, want {%q %v false}", re.Path, re.Earlier, re.Durable, dst, earlier)
		}
		if err := os.Remove(dst); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBackupFileFailedBeforeRenameSaysNothingReplaced: a BackupFile whose
// check refuses the copy fails before the copy is put in place: its error
// wraps neither ErrNotDurable nor a *ReplacedError.
func TestBackupFileFailedBeforeRenameSaysNothingReplaced(t *testing.T) {
	t.Parallel()
	s, path, _, _ := h217DirFault(t, false)
	refused := errors.New("refused by the check")
	err := s.BackupFile(context.Background(), filepath.Join(filepath.Dir(path), "b.db"),
		BackupCheck(func(string) error { return refused }))
	if !errors.Is(err, refused) {
		t.Fatalf("BackupFile whose check refused = %v, want the check's error", err)
	}
	if errors.Is(err, ErrNotDurable) || replacedIn(err) != nil {
		t.Errorf("BackupFile that failed before its rename says its copy was put in place: %v", err)
	}
}
