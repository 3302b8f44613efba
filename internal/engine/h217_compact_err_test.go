package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestCompactErrNamesTempInBoltText: bbolt formats some errors of the
// new file as text (its growth: "file sync error: %s" of the handle's
// *os.PathError), and the handle is named the store's path
// (namedHandle): a failed fsync of s.db.compact during the copy said
// "sync s.db", the file that did not fail. compactErr must name the
// temporary file there too, and keep what the error wraps.
func TestCompactErrNamesTempInBoltText(t *testing.T) {
	path := filepath.Join("d", "s.db")
	tmp := compactTempPath(path)
	eio := errors.New("input/output error")
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("file sync error: %s", &os.PathError{Op: "sync", Path: path, Err: eio}),
			"file sync error: sync " + tmp + ": input/output error"},
		{fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: path, Err: eio}),
			"file resize error: truncate " + tmp + ": input/output error"},
		{&os.PathError{Op: "write", Path: path, Err: eio}, "write " + tmp + ": input/output error"},
		{fmt.Errorf("create %s: %w", tmp, eio), "create " + tmp + ": input/output error"}, // already the temporary name
	}
	for _, c := range cases {
		inner := c.err
		got := compactErr(fmt.Errorf("x: %w", c.err), path, tmp)
		if want := "x: " + c.want; got.Error() != want {
			t.Errorf("compactErr(%q) = %q, want %q", inner, got, want)
		}
		if !errors.Is(got, inner) {
			t.Errorf("compactErr(%q) lost what it wraps", inner)
		}
	}
}
