package ckpt

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An ambiguous prefix names the ids it starts: all of them when they are
// few, with "..." only when some are left out. Two ids were printed as
// "(A, B...)", which says there are more.
func TestH137ResolveIDAmbiguousNamesAllOrSaysMore(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	ids := []string{"01ARZ3NDEKTSV4RRFFQ69G5FA1", "01ARZ3NDEKTSV4RRFFQ69G5FA2", "01ARZ3NDEKTSV4RRFFQ69G5FB1", "01ARZ3NDEKTSV4RRFFQ69G5FB2", "01ARZ3NDEKTSV4RRFFQ69G5FB3", "01ARZ3NDEKTSV4RRFFQ69G5FB4"}
	for _, id := range ids {
		if _, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{ID: id}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		prefix, want string
	}{
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", `is the start of 2 checkpoint ids (01ARZ3NDEKTSV4RRFFQ69G5FA1, 01ARZ3NDEKTSV4RRFFQ69G5FA2)`},
		{"01ARZ3NDEKTSV4RRFFQ69G5FB", `is the start of 4 checkpoint ids (01ARZ3NDEKTSV4RRFFQ69G5FB1, 01ARZ3NDEKTSV4RRFFQ69G5FB2, 01ARZ3NDEKTSV4RRFFQ69G5FB3, ...)`},
	} {
		_, err := s.ResolveID(ctx, "t", "", c.prefix)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ResolveID(%q) = %v; want ErrInvalidConfig saying %q", c.prefix, err, c.want)
		}
	}
}

// Open("") (an unset setting, an empty flag) is a mistake in the call,
// not a file the system could not find: it said "ckpt: open : open : no
// such file or directory".
func TestH137OpenEmptyPathIsInvalidConfig(t *testing.T) {
	t.Parallel()
	for _, ro := range []bool{false, true} {
		s, err := Open("", Options{ReadOnly: ro})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "path") {
			t.Errorf("Open(\"\", ReadOnly %v) = %v; want ErrInvalidConfig naming the empty path", ro, err)
		}
	}
}

// An Open the file system refuses names the path once, and still wraps
// the system's error: it said "ckpt: open P: open P: no such file or
// directory".
func TestH137OpenErrorNamesPathOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		name, path string
		opts       Options
		is         error
	}{
		{"no directory", filepath.Join(dir, "missing", "x.db"), Options{}, fs.ErrNotExist},
		{"read-only, no file", filepath.Join(dir, "none.db"), Options{ReadOnly: true}, fs.ErrNotExist},
		{"a directory", dir, Options{}, nil},
	} {
		s, err := Open(c.path, c.opts)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open(%s) succeeded", c.name, c.path)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: Open = %v; want it to wrap %v", c.name, err, c.is)
		}
		if n := strings.Count(err.Error(), c.path); n != 1 {
			t.Errorf("%s: Open = %q names the path %d times, want once", c.name, err, n)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			t.Errorf("%s: Open = %v; want it to wrap the *fs.PathError", c.name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a read-only Open created the file: %v", err)
	}
}

// An Async write that fails does so after its call returned, so its error
// reaches the caller only through Flush, Close and OnAsyncError. It named
// what went wrong ("parent checkpoint P ... not found") but not which
// acknowledged write was lost: a Put's or Save's error names the id the
// call returned, a PutWrites' its task.
func TestH137AsyncFailureNamesTheWrite(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "async.db"), Options{Durability: Async})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const gone = "01ARZ3NDEKTSV4RRFFQ69G5FA1" // stored nowhere
	put, err := s.Put(ctx, Config{ThreadID: "t", CheckpointID: gone}, Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: gone}, []Write{{Channel: "c", Value: 1}}, "task-7", ""); err != nil {
		t.Fatal(err)
	}
	saved, err := s.Save(WithWriteOptions(ctx, WriteOptions{Parent: gone}), "u", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Flush(ctx)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Flush = %v; want the failures, ErrNotFound", err)
	}
	for _, want := range []string{put.CheckpointID, `"task-7"`, saved} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Flush's error does not name the failed write by %s:\n%v", want, err)
		}
	}
}
