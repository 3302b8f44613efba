package ckpt

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestReadWriteOpenRewritesAMarkOfTheWrongLength: a store closed cleanly
// (no log) whose mark (meta/wal-applied) is stored 7 or 9 bytes long
// beside a whole binding. Verify reports it (Check "mark"), RecoverLog
// puts it back; but a read-write Open read it as group 0 (what a mark
// that is not 8 bytes decodes to), bound its new log at 0, and left the
// mark as it was: after its Close with no write Verify still reported it,
// on every Open after, until a write's replay wrote the mark. A read-write
// Open takes a mark as it reads it and binds its new log at that group (a
// flipped low byte of an 8-byte one: TestVerifyReportsDamagedBindingOfCleanStore);
// the mark it took must be written with the binding, so that the two
// agree and Verify reports nothing. Every checkpoint loads, and the store
// writes on.
func TestReadWriteOpenRewritesAMarkOfTheWrongLength(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(v []byte) []byte
	}{
		{"7 bytes", func(v []byte) []byte { return v[:7] }},
		{"9 bytes", func(v []byte) []byte { return append(v, 0) }},
		{"empty", func(v []byte) []byte { return []byte{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := copyStore(t, base)
			editClosedFile(t, path, func(tx *bolt.Tx) error {
				v := bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALApplied))
				return tx.Bucket(bucketMeta).Put(keyWALApplied, c.edit(v))
			})
			if ps := markProblems(t, path); len(ps) != 1 || !strings.Contains(ps[0].Detail, "not 8") {
				t.Fatalf("Verify reports %v, want the mark's length", ps)
			}
			w, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("read-write Open: %v", err)
			}
			checkLoads(t, w, "t", ids)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if ps := markProblems(t, path); len(ps) != 0 {
				t.Errorf("after a read-write Open and Close, Verify reports %v", ps)
			}
			w, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			more := saveN(t, w, "t", 3, 1)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			checkLoads(t, r, "t", append(ids, more...))
			_ = r.Close()
			if ps := markProblems(t, path); len(ps) != 0 {
				t.Errorf("after a write, Verify reports %v", ps)
			}
		})
	}
}
