package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// BackupFile writes its copy to a hidden temporary file beside the
// destination and removes it when the backup fails, so an error that
// names that file names a file the user never gave and that is gone by
// the time they read it. Its message names the destination (the prefix
// "backup to DST") and calls the file "the copy", while errors.Is and
// errors.As still find what it wraps: here a BackupCheck whose error
// names the path it was handed (the CLI's verify of the copy does).
func TestH178BackupErrorNamesTheDestinationNotTheTempFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := ckpt.Open(filepath.Join(dir, "s.ckpt"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(context.Background(), "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "b.ckpt")
	var handed string
	bad := errors.New("not a store")
	err = s.BackupFile(context.Background(), dst, ckpt.BackupCheck(func(p string) error {
		handed = p
		return &os.PathError{Op: "verify", Path: p, Err: bad}
	}))
	if handed == "" {
		t.Fatalf("BackupCheck was not called: %v", err)
	}
	var pe *os.PathError
	if !errors.Is(err, bad) || !errors.As(err, &pe) {
		t.Errorf("BackupFile = %v: errors.Is and errors.As lost the check's error", err)
	}
	msg := fmt.Sprint(err)
	if strings.Contains(msg, handed) || strings.Contains(msg, ".ckpt-backup-") {
		t.Errorf("BackupFile's error names the temporary file %s: %s", handed, msg)
	}
	if !strings.Contains(msg, "backup to "+dst+":") || !strings.Contains(msg, "verify the copy: not a store") {
		t.Errorf("BackupFile's error = %q, want it to name %s and say what failed of the copy", msg, dst)
	}
}
