// Package pagedamage damages a closed bbolt file's pages the way a flipped
// bit would, for the tests of ckpt and its command (which cannot share
// test files across modules).
package pagedamage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// BucketRoot returns the root page of the bucket at names (none: the root
// bucket) in the closed bbolt file at path, the file's page size and its
// bytes: where a test damages a page.
func BucketRoot(path string, names ...[]byte) (root, pageSize int, data []byte, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, 0, nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Cursor().Bucket()
		for _, n := range names {
			if b = b.Bucket(n); b == nil {
				return fmt.Errorf("no bucket %q", n)
			}
		}
		root = int(b.Root())
		return nil
	})
	pageSize = db.Info().PageSize
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, nil, err
	}
	data, err = os.ReadFile(path)
	return root, pageSize, data, err
}

// ClearBucketFlag clears, in data (a bbolt file's bytes), the bucket flag
// of every leaf element named name in the tree whose root is page root:
// bbolt then reads that bucket as a value. It returns how many it
// cleared.
func ClearBucketFlag(data []byte, root, pageSize int, name []byte) int {
	hits := 0
	var walk func(id int)
	walk = func(id int) {
		p := id * pageSize
		flags, count := binary.LittleEndian.Uint16(data[p+8:]), int(binary.LittleEndian.Uint16(data[p+10:]))
		for i := range count {
			e := p + 16 + 16*i
			if flags == 0x01 { // branch: pos, ksize, pgid
				walk(int(binary.LittleEndian.Uint64(data[e+8:])))
				continue
			}
			pos, ks := int(binary.LittleEndian.Uint32(data[e+4:])), int(binary.LittleEndian.Uint32(data[e+8:]))
			if bytes.Equal(data[e+pos:e+pos+ks], name) && data[e]&0x01 != 0 {
				data[e] &^= 0x01
				hits++
			}
		}
	}
	walk(root)
	return hits
}
