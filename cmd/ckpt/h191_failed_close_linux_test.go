//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A command that fails for one reason, and whose store then fails as it
// closes (ErrFailed: applying the log, the file's fdatasync reported
// EIO), printed only the first error: an import of a dump malformed after
// its first batch said "malformed dump: line N ...; the threads imported
// so far were removed, demo.db left as it was", and nothing of the failed
// store, nor to check the disk and run verify. The line must say both:
// the first cause, then that the store failed (its cause once) and what
// to run. Faults injected with strace, as h183's tests do.
func TestH191FailedCloseAfterAFailedCommandSaysBoth(t *testing.T) {
	t.Parallel()
	strace := h183Strace(t)
	dir, db := demoFixture(t)
	src := filepath.Join(dir, "src.db")
	s, err := ckpt.Open(src, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 30 threads of 20 checkpoints: past one import batch (512 records).
	for th := range 30 {
		for i := range 20 {
			if _, err := s.Save(context.Background(), fmt.Sprintf("c%02d", th), map[string]any{"i": i}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dump := ok(t, dir, "export", "src.db").stdout
	lines := strings.SplitAfter(dump, "\n")
	if len(lines) < 600 {
		t.Fatalf("dump of %d lines, want more than 600", len(lines))
	}
	bad := strings.Join(lines[:600], "") + `{"kind":"bogus"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file's fdatasyncs 1 and 2 are Open's commit; the import's
	// batches and their undo go to the log, and applying them (at Close,
	// or earlier in the background) is the file's third: the store
	// fails as it closes, or during the undo. The log's first two are its
	// preallocation's and the first batch's: its third, the undo's,
	// fails it during the undo.
	orig, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []struct{ path, when string }{{db, "3+"}, {db + "-wal", "3+"}} {
		// strace counts fdatasyncs per thread (h183Until): under load the
		// one meant to fail may be another thread's third, and the
		// import then fails for the dump alone. Run again, on the file
		// as it was, until the fault is seen.
		r := h183UntilLanded(t, "the fault's input/output error", func(r result) bool {
			return strings.Contains(r.stderr, "input/output error")
		}, func() result {
			if err := os.WriteFile(db, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(db + "-wal"); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			return h183RunFaulted(t, strace, dir, fault.path, fault.when, "import", "demo.db", "bad.jsonl")
		})
		failsWith(t, r, 1, "malformed dump: line 601")
		t.Logf("%s failing: %s", filepath.Base(fault.path), r.stderr)
		for _, want := range []string{"the store failed", "input/output error", "'ckpt verify demo.db'"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr: want %q:\n%s", fault.path, want, r)
			}
		}
		if strings.Contains(r.stderr, "reopen it") || strings.Contains(r.stderr, "undo (") || strings.Count(r.stderr, "the store failed") != 1 {
			t.Errorf("%s: stderr: want the failure once (not again as the undo's), without the library's advice to reopen:\n%s", fault.path, r)
		}
		if strings.Contains(r.stderr, "could not undo") && (strings.Contains(r.stderr, "left as it was") || !strings.Contains(r.stderr, "hidden")) {
			t.Errorf("%s: stderr: an undo that failed, and the file called left as it was:\n%s", fault.path, r)
		}
		// What the import and its undo wrote is in the log: the next
		// open applies it; what of the import stays is hidden.
		if th := runIn(t, dir, "", "threads", "demo.db"); th.code != 0 || strings.Contains(th.stdout, "c00") {
			t.Errorf("%s: threads after the failed import, want none of the dump's:\n%s", fault.path, th)
		}
		if v := runIn(t, dir, "", "verify", "demo.db"); v.code != 0 {
			t.Errorf("%s: verify after the failed store:\n%s", fault.path, v)
		}
	}
}
