package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestImportFileBesideARunningImport: an ImportFile into a new path while
// another into the same path is in the middle of its work (called from the
// first one's Progress) must not take the first one's path.import for a
// killed run's leftover: it fails with ErrLocked, and the first finishes
// with the whole dump at path. On main the second removed the first's file,
// built and linked its own, and the first failed ("no such file") after
// writing its whole dump to a file no name led to.
func TestImportFileBesideARunningImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dump := importSource(t, 3)
	dir := t.TempDir()
	alone := filepath.Join(dir, "alone.ckpt")
	if _, err := ImportFile(ctx, alone, bytes.NewReader(dump), Options{Durability: NoSync}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkState := func(path string) []string {
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return storeState(t, s)
	}
	want := checkState(alone)

	path := filepath.Join(dir, "new.ckpt")
	var second error
	ran := false
	_, err := ImportFile(ctx, path, bytes.NewReader(dump), Options{tuning: &tuning{importBatchRecords: 4}}, ImportOptions{Progress: func(int64) {
		if ran {
			return
		}
		ran = true
		_, second = ImportFile(ctx, path, bytes.NewReader(dump), Options{LockTimeout: 50 * time.Millisecond}, ImportOptions{})
	}})
	if !ran {
		t.Fatal("the import reported no progress: the test does not test")
	}
	if err != nil {
		t.Fatalf("the first import (the second: %v): %v", second, err)
	}
	if !errors.Is(second, ErrLocked) {
		t.Fatalf("an import beside a running one into the same path: %v, want ErrLocked", second)
	}
	if got := checkState(path); !slices.Equal(got, want) {
		t.Fatalf("%s holds %d checkpoints, want the dump's %d", path, len(got), len(want))
	}
	if _, err := os.Stat(path + ".import"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.import left: %v", path, err)
	}
}
