package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestPageTypedBranchAndLeafIsCorrupt: a page whose flags byte says
// branch and leaf at once (0x03: one bit flipped in a branch or a leaf
// page's type) is neither to bbolt, which panics on it ("invalid page
// type") or, in a write, reads it as a branch. The page check before a
// write let it through (it asked only for a type among branch|leaf and no
// other bit): a read-write Open must refuse it with ErrCorrupt naming the
// page, whether the page was a branch or a leaf, and so must Verify's walk
// (TouchAll); a read-only read of it is ErrCorrupt, never a value.
func TestPageTypedBranchAndLeafIsCorrupt(t *testing.T) {
	t.Parallel()
	ps := uint64(os.Getpagesize())
	cases := []struct {
		name string
		page func(data []byte, m boltMeta) uint64
	}{
		{"branch", func(data []byte, m boltMeta) uint64 { return bucketRoot(t, data, m, "b") }},
		{"leaf under a branch", func(data []byte, m boltMeta) uint64 {
			p := bucketRoot(t, data, m, "b")
			return binary.LittleEndian.Uint64(data[p*ps+pageHeaderSize+8:]) // its first child
		}},
		{"leaf with overflow", func(data []byte, m boltMeta) uint64 { return bucketRoot(t, data, m, "big") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "d.db")
			data, m := buildPageFile(t, path)
			page := tc.page(data, m)
			if f := binary.LittleEndian.Uint16(data[page*ps+8:]); f != branchPageFlag && f != leafPageFlag {
				t.Fatalf("page %d has type %#x before the damage", page, f)
			}
			data[page*ps+8] |= branchPageFlag | leafPageFlag
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("page %d", page)
			db, _, err := OpenBolt(path, &bolt.Options{Timeout: time.Second})
			if err == nil {
				_ = db.Close()
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Fatalf("read-write open: %v, want ErrCorrupt naming %s", err, want)
			}
			db, _, err = OpenBolt(path, &bolt.Options{Timeout: time.Second, ReadOnly: true})
			if err != nil {
				t.Fatalf("read-only open: %v", err)
			}
			defer db.Close()
			bucket := "b"
			if tc.name == "leaf with overflow" {
				bucket = "big"
			}
			err = GuardedView(db, "read", func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error { return nil })
			})
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("read-only read of bucket %q: %v, want ErrCorrupt", bucket, err)
			}
			err = GuardedView(db, "verify", func(tx *bolt.Tx) error { return TouchAll(tx, path) })
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Errorf("verify's walk: %v, want ErrCorrupt naming %s", err, want)
			}
		})
	}
}
