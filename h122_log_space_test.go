package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// Compact gives freed space back to the file system: the write-ahead
// log's too. A log grown by one large write (it grows by 4 MiB steps of
// zeros and never shrank) stayed that size beside the compacted file for
// as long as the store was open: a service that once wrote a big value,
// deleted it and compacted still used its size on disk. The writes in the
// cut-back log come back after a kill.
func TestCompactGivesBackTheLogsSpace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.ckpt")
	// The applier held: after the Compact, the small writes are in the
	// shrunk log alone, and a copy of both files is what a kill leaves.
	held := Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true}}}
	s, err := Open(path, held)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	logSize := func() int64 {
		fi, err := os.Stat(path + walSuffix)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if _, err := s.Save(ctx, "small", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	base := logSize() // one growth step
	if _, err := s.Save(ctx, "big", map[string]any{"v": strings.Repeat("y", int(3*base))}, nil); err != nil {
		t.Fatal(err)
	}
	grown := logSize()
	if grown < 3*base {
		t.Fatalf("the log is %d bytes after a write of %d", grown, 3*base)
	}
	if err := s.DeleteThread(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.Save(ctx, "small", map[string]any{"v": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := logSize(); got > base {
		t.Fatalf("after Compact and small writes the log is %d bytes (grown to %d by one write; %d before it)", got, grown, base)
	}
	// What the store holds is intact, after a reopen too.
	check := func(s *Store) {
		snap, err := s.Latest(ctx, "small")
		var v int
		if err == nil {
			err = snap.Decode("v", &v)
		}
		if err != nil || v != 19 {
			t.Fatalf("latest of small: %v, %v", v, err)
		}
		if _, err := s.Latest(ctx, "big"); err == nil {
			t.Fatal("the deleted thread is back")
		}
	}
	check(s)
	killed := filepath.Join(t.TempDir(), "w.ckpt")
	for _, suffix := range []string{"", walSuffix} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(killed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, killed} {
		s, err = Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		check(s)
		if _, err := s.Verify(ctx, VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
