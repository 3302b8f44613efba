package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// flipBinding flips mask into byte at of the store's binding to its log
// (closed store at path), wherever the key and its value are in a row.
func flipBinding(t *testing.T, path string, at int, mask byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var val []byte
	if err := db.View(func(tx *bolt.Tx) error {
		val = bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALLog))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := append(bytes.Clone(keyWALLog), val...)
	n := 0
	for off := 0; ; {
		j := bytes.Index(data[off:], kv)
		if j < 0 {
			break
		}
		data[off+j+len(keyWALLog)+at] ^= mask
		n++
		off += j + len(kv)
	}
	if n == 0 {
		t.Fatal("the binding is not in the file as key and value in a row")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverMarkAndBindingFlippedOnAKilledStore: a killed store (its
// log holds groups the file lacks) whose applied mark is flipped past any
// group and whose binding to its log is damaged too. Every Open refused
// it (the mark), and RecoverLog refused it (no binding to say where the
// mark was), saying that a read-only Open still reads the store: with a
// log beside it, a read-only Open refused it too, and nothing read the
// acknowledged writes. The file's live mark names the log beside it, so
// the log is the file's, begun at the file's mark: RecoverLog puts the
// mark back before the log's first group (the groups the file holds
// already are replayed again, which changes nothing), and every
// checkpoint is there. A log the live mark does not name is refused,
// nothing written.
func TestRecoverMarkAndBindingFlippedOnAKilledStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	killed := func(t *testing.T) (string, []string) {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true}}})
		if err != nil {
			t.Fatal(err)
		}
		applied := saveN(t, s, "t", 0, 3)
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
		logged := saveN(t, s, "t", 3, 3)
		crashed := crashCopy(t, s)
		_ = s.Close()
		flipAppliedMark(t, crashed, 0, 0x80)
		flipBinding(t, crashed, 3, 0x10)
		return crashed, append(applied, logged...)
	}
	t.Run("its own log", func(t *testing.T) {
		t.Parallel()
		path, ids := killed(t)
		for i := range 2 {
			st, err := RecoverLog(path, Options{})
			if err != nil {
				t.Fatalf("RecoverLog %d: %v", i, err)
			}
			if st.MarkRepaired != (i == 0) || st.DroppedGroups() != 0 {
				t.Errorf("RecoverLog %d: %+v, want the mark repaired the first time, nothing dropped", i, st)
			}
		}
		recoveredStoreWorks(t, path, "t", ids, 6)
	})
	t.Run("another store's log", func(t *testing.T) {
		t.Parallel()
		path, _ := killed(t)
		other, _ := killed(t)
		copyFileIn(t, other+walSuffix, path+walSuffix)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RecoverLog(path, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("RecoverLog beside a log the file does not name: %v, want ErrCorrupt", err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Error("RecoverLog that refused the file changed it")
		}
	})
}
