package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// newFilePages must be what bbolt writes into a new file, byte for byte,
// at each page size: a prefix of it is taken for a new file cut short
// (newfile.go), so a difference would refuse those again.
func TestNewFilePagesAreBbolts(t *testing.T) {
	t.Parallel()
	for _, ps := range []int{1024, 4096, 16384, 65536} {
		p := filepath.Join(t.TempDir(), "new.db")
		db, err := bolt.Open(p, 0o600, &bolt.Options{PageSize: ps})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := newFilePages(ps)
		if len(b) < len(want) || !bytes.Equal(b[:len(want)], want) {
			t.Errorf("page size %d: newFilePages differs from bbolt's new file", ps)
		}
	}
}
