package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOpPanicIsCorruptOnlyFromBolt: the commit loop's recover (safeApply)
// calls a panic ErrCorrupt only when a damaged page could have raised it:
// inside bbolt, or a view's bound check (an ErrCorrupt error). A panic an
// op's own code raises, even called back by bbolt, is a bug and says
// "write panicked" without ErrCorrupt.
func TestOpPanicIsCorruptOnlyFromBolt(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err == nil {
			err = b.Put([]byte("k"), []byte("v"))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	closed, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		apply   func(w Writer) error
		corrupt bool
	}{
		{"inside bbolt", func(Writer) error { closed.Bucket([]byte("b")).Get([]byte("k")); return nil }, true},
		{"a bound check's ErrCorrupt", func(Writer) error { panic(errTooLong(1<<30, 4096)) }, true},
		{"the op's own code", func(Writer) error { var m map[string]int; m["x"]++; return nil }, false},
		{"the op's own error", func(Writer) error { panic(fmt.Errorf("a bug")) }, false},
		{"called back by bbolt", func(Writer) error {
			return db.View(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { panic("a bug in a callback") })
			})
		}, false},
	} {
		err := safeApply(tc.apply, nil)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if got := errors.Is(err, ErrCorrupt); got != tc.corrupt {
			t.Errorf("%s: %v: ErrCorrupt %v, want %v", tc.name, err, got, tc.corrupt)
		}
		if !tc.corrupt && !strings.Contains(err.Error(), "write panicked") {
			t.Errorf("%s: %v, want it to say the write panicked", tc.name, err)
		}
	}
}
