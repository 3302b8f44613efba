package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestPrefixScanEndsOnDamagedKey: a prefix scan ends at the first key
// outside its prefix. In a sound page every key after that one is outside
// it too; a key whose byte a flip raised above the prefix (forward) or
// lowered below it (backward) ends the scan early, and the keys of the
// prefix beyond it were passed over with no error: GC's count of the
// checkpoints that keep a namespace's values read short. A read-only
// handle reads such a page (a read-write Open refuses it, and damage
// under an open store reaches a read-write one too). The scan must say
// ErrCorrupt, having yielded only keys a clean scan yields.
func TestPrefixScanEndsOnDamagedKey(t *testing.T) {
	key := func(p byte, i int) []byte { return fmt.Appendf(nil, "%c%03d", p, i) }
	for _, tc := range []struct {
		name    string
		damage  []byte // the key whose first byte is changed
		to      byte
		prefix  byte
		reverse bool
	}{
		{"raised forward", key('b', 20), 'z', 'b', false},
		{"raised first forward", key('b', 0), 'z', 'b', false},
		{"lowered backward", key('b', 20), 'a', 'b', true},
		{"lowered last backward", key('b', 39), 'a', 'b', true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for _, p := range []byte("abc") {
					for i := range 40 {
						if err := b.Put(key(p, i), []byte{p}); err != nil {
							return err
						}
					}
				}
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
			if n := bytes.Count(data, tc.damage); n != 1 {
				t.Fatalf("key %q found %d times in the file, want once", tc.damage, n)
			}
			data[bytes.Index(data, tc.damage)] = tc.to
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.View(func(tx *bolt.Tx) error {
				var got [][]byte
				err := NewBoltView(tx).Scan(Path{[]byte("b")}, []byte{tc.prefix}, nil, tc.reverse, func(k, _ []byte) error {
					got = append(got, bytes.Clone(k))
					return nil
				})
				for _, k := range got {
					if k[0] != tc.prefix {
						t.Errorf("yielded %q, outside the prefix", k)
					}
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("scan of prefix %q yielded %d keys, err %v; want ErrCorrupt", tc.prefix, len(got), err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
