package ckpt

// ImportFile whose new store fails between its Import and its Close:
// the import is in the new file's log (Import returned nil), and the
// background apply's bbolt commit fails (an I/O error: h172's strace hunt
// met it as an EIO on a pwrite64 of path+".import", maint pwrite64 EIO
// at call 96, seed 5). A failed store's Close keeps the log and returns
// nil; ImportFile then linked the file alone into place and returned
// nil, and the file at path did not open (ErrCorrupt: it says its log is
// live, and the log was left behind at path+".import-wal"). An ImportFile
// that returns nil leaves a file that opens alone with the import in it;
// one that fails leaves nothing at path.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

func TestH172ImportFileWhoseCloseFailsLeavesNoUnopenableFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := src.Save(ctx, "t", map[string]any{"v": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "new.db")
	var armed atomic.Bool
	// HoldApplier: the import's groups stay in the log until the hook's
	// ApplyLog, whose commit must be the one that fails. With the
	// background applier, one that ran before the hook (20 ms after the
	// import's last write, or the import scheduled late on a busy machine)
	// left nothing to apply and ApplyLog returned nil (shown with a 300 ms
	// sleep before armed.Store).
	opts := Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, CommitBolt: func(tx *bolt.Tx) error {
		if armed.Load() {
			_ = tx.Rollback()
			return errors.New("commit on fire")
		}
		return tx.Commit()
	}}, importBeforeClose: func(s *Store) {
		// The apply fails, as the applier's would in the background.
		armed.Store(true)
		if err := s.ApplyLog(ctx); !errors.Is(err, ErrFailed) {
			t.Errorf("ApplyLog with its commit failing: %v", err)
		}
	}}}
	_, err = ImportFile(ctx, path, &dump, opts, ImportOptions{})
	t.Logf("ImportFile: %v", err)
	if _, serr := os.Stat(path); err != nil && !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("ImportFile failed (%v), and left a file at %s (%v)", err, path, serr)
	}
	if err != nil {
		return
	}
	s, oerr := Open(path, Options{})
	switch {
	case oerr != nil:
		t.Fatalf("ImportFile returned nil, and the file it left does not open: %v", oerr)
	default:
		defer s.Close()
		n := 0
		for _, err := range s.History(ctx, "t", ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 5 {
			t.Fatalf("ImportFile returned nil; the new store holds %d of the 5 checkpoints", n)
		}
	}
}
