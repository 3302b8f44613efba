package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAHugeFileBesideTheStoreIsNoLogToRead: a file of 1 TiB (sparse: it takes
// no room) named as the store's write-ahead log, beside a store
// closed cleanly or killed. Open read the whole log into memory
// (os.ReadFile): the allocation failed and the runtime ended the process
// ("fatal error: out of memory", which no recover catches). No log a
// store writes comes near that size (the log's bound, 64 MiB, and one
// record past it): every Open must refuse it with ErrCorrupt, naming its
// size, and RecoverLog must move it aside, with the store's checkpoints
// intact after.
func TestAHugeFileBesideTheStoreIsNoLogToRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, killed := range []bool{false, true} {
		p := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if killed {
			// bbolt holds the save; the file says its log is live.
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			p = crashCopy(t, s)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p+walSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 40); err != nil {
			t.Skipf("no sparse 1 TiB file here: %v", err)
		}
		_ = f.Close()
		for _, opts := range []Options{{ReadOnly: true}, {}, {NoWAL: true}} {
			if r, err := Open(p, opts); err == nil {
				t.Errorf("killed %v, options %+v: Open of a store beside a 1 TiB log succeeded", killed, opts)
				_ = r.Close()
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("killed %v, options %+v: Open: %v, want ErrCorrupt", killed, opts, err)
			}
		}
		st, err := RecoverLog(p, Options{})
		if err != nil || st.MovedTo == "" {
			t.Fatalf("killed %v: RecoverLog = %+v, %v: want the file moved aside", killed, st, err)
		}
		_ = os.Remove(st.MovedTo)
		r, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("killed %v: Open after RecoverLog: %v", killed, err)
		}
		if _, err := r.Load(ctx, "t", id); err != nil {
			t.Errorf("killed %v: after RecoverLog: %v", killed, err)
		}
		_ = r.Close()
	}
}
