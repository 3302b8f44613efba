//go:build unix

package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO under the log's name, beside a store closed cleanly: Open read
// it with os.ReadFile, whose open waits for a writer that never comes (a
// hang, in every Open). It is no log: refused with ErrCorrupt at once,
// and RecoverLog moves it aside.
func TestAFIFOBesideTheStoreIsNoLogToRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p+walSuffix, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		if r, err := Open(p, opts); err == nil {
			t.Errorf("options %+v: Open beside a FIFO as its log succeeded", opts)
			_ = r.Close()
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("options %+v: Open: %v, want ErrCorrupt", opts, err)
		}
	}
	st, err := RecoverLog(p, Options{})
	if err != nil || st.MovedTo == "" {
		t.Fatalf("RecoverLog = %+v, %v: want the FIFO moved aside", st, err)
	}
	r, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	defer r.Close()
	if _, err := r.Load(ctx, "t", id); err != nil {
		t.Errorf("after RecoverLog: %v", err)
	}
}

// A FIFO at the store's own path: every Open, and RecoverLog, hung (a
// read-only open of a FIFO waits for a writer; a read-write one opens at
// once and bbolt's first read waits). It is no store file: ErrCorrupt,
// at once.
func TestAFIFOAtTheStorePathIsNoStoreFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "s.db")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {}, {NoWAL: true}} {
		if r, err := Open(p, opts); err == nil {
			t.Errorf("options %+v: Open of a FIFO succeeded", opts)
			_ = r.Close()
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("options %+v: Open: %v, want ErrCorrupt", opts, err)
		}
	}
	if _, err := RecoverLog(p, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("RecoverLog: %v, want ErrCorrupt", err)
	}
}
