package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// EPERM is fs.ErrPermission too, but open(2) returns it for a file that
// refuses writing whatever its permission bits (immutable or append-only:
// chattr +i, +a; a sealed file), root included: "it needs write
// permission on FILE" sent the user to chmod, which changes nothing, and
// root, who has every permission, read that it lacks one (h228; found
// with chattr +i and ckpt gc as root).
func TestH228OperationNotPermittedIsNotAskedForPermission(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "demo.db")
	if err := os.WriteFile(existing, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := func(path string) error {
		return fmt.Errorf("open store: %w", &fs.PathError{Op: "open", Path: path, Err: syscall.EPERM})
	}
	a := newApp(nil, nil, nil)
	for _, c := range []struct{ path, failed string }{
		{existing, existing},
		{filepath.Join(dir, "new.db"), filepath.Join(dir, "new.db")},
		{filepath.Join(dir, "new.db"), filepath.Join(dir, "new.db.import")},
	} {
		err := a.writeOpenError(c.path, refused(c.failed))
		if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, syscall.EPERM) {
			t.Fatalf("%s: want an error wrapping EPERM, got %v", c.failed, err)
		}
		if msg := err.Error(); strings.Contains(msg, "needs write permission") || !strings.Contains(msg, "lsattr") {
			t.Fatalf("%s: want no call for write permission, and a pointer to the file's attributes (lsattr): %s", c.failed, msg)
		}
	}
}
