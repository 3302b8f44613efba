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

// TestStoreOpenedThroughASymlink: a store whose path is a symbolic link
// to its file (a data directory linked from the app's, a "current" link)
// is the file the link names. On main the store kept its log beside the
// link and Compact renamed its new file over the link: a program opening
// the file by its own name (ckpt verify, show, compact by an operator, or
// the app after the link is made again) read an older state with no
// error, without the checkpoints in the log a killed writer left beside
// the link, or without everything written since a Compact.
func TestStoreOpenedThroughASymlink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("compact", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		file := filepath.Join(dir, "data", "agent.db")
		if err := os.Mkdir(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "current.db")
		if err := os.Symlink(file, link); err != nil {
			t.Fatal(err)
		}
		s, err := Open(link, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 3)
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, saveN(t, s, "t", 3, 2)...)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("after a Compact through the link, %s is no longer a link (%v)", link, err)
		}
		r, err := Open(file, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		checkLoads(t, r, "t", ids)
	})
	t.Run("killed writer", func(t *testing.T) {
		t.Parallel()
		path := appliedStore(t, 2)
		s := openUnapplied(t, path)
		ids := saveN(t, s, "t", 2, 3) // in the log only
		file := crashCopy(t, s)       // the file and its log, as a kill leaves them
		link := filepath.Join(t.TempDir(), "current.db")
		if err := os.Symlink(file, link); err != nil {
			t.Fatal(err)
		}
		r, err := Open(link, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if _, err := r.Load(ctx, "t", id); err != nil {
				t.Fatalf("read-only through the link: logged checkpoint %d of %d: %v", i, len(ids), err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		w, err := Open(link, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkLoads(t, w, "t", ids)
		more := saveN(t, w, "t", 5, 2)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(link + walSuffix); err == nil {
			t.Fatalf("a log was left beside the link")
		}
		f, err := Open(file, Options{})
		if err != nil {
			t.Fatalf("the file by its own name after a writer used the link: %v", err)
		}
		defer f.Close()
		checkLoads(t, f, "t", append(ids, more...))
	})
	t.Run("log beside the link", func(t *testing.T) {
		t.Parallel()
		// A log that a build keeping it beside the link left there is the
		// store's: Open refuses to go on without it, and changes nothing.
		file := appliedStore(t, 2)
		link := filepath.Join(t.TempDir(), "current.db")
		if err := os.Symlink(file, link); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(link+walSuffix, []byte("a log"), 0o600); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			if s, err := Open(link, Options{ReadOnly: ro}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "move it to") {
				if err == nil {
					_ = s.Close()
				}
				t.Fatalf("read-only %v: Open through a link with a log beside it: %v, want ErrInvalidConfig", ro, err)
			}
		}
		if _, err := RecoverLog(link, Options{}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("RecoverLog through a link with a log beside it: %v, want ErrInvalidConfig", err)
		}
		if after, err := os.ReadFile(file); err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the store file changed (%v)", err)
		}
		if _, err := os.Stat(file + walSuffix); err == nil {
			t.Fatal("a log was made beside the file")
		}
	})
}
