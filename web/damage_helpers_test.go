package web_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// closeAndDamage closes s, the store at path, replaces the one place in
// its file that holds marker with with (same length: a record that then
// fails its checksum), and opens the file read-only, closed at the
// test's end: the tests of pages over a damaged record.
func closeAndDamage(t *testing.T, s *ckpt.Store, path, marker, with string) *ckpt.Store {
	t.Helper()
	if len(with) != len(marker) {
		t.Fatalf("%q replaces %q: not the same length", with, marker)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(file, []byte(marker)); n != 1 {
		t.Fatalf("the marker %q is in the file %d times, want 1", marker, n)
	}
	file = bytes.Replace(file, []byte(marker), []byte(with), 1)
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro
}
