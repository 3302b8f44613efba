package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckPagesRefusesKeysOutOfOrderInAPage: a key of a leaf page
// changed to sort before the key before it, or to equal it, passes the
// element and first-key checks, and a write into that page would place
// new keys by it, out of order (the root package's
// TestH175RaisedIndexKeyThenWrites). CheckPages refuses it, ErrCorrupt,
// with the sweep and with the walk alone, the same text: in a page of
// small keys, and in one whose keys after the first lie in the overflow
// behind a large value (read alone, past the bytes the check reads). The
// sound file passes.
func TestCheckPagesRefusesKeysOutOfOrderInAPage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "order.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		small, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		for i := range 150 { // one page, not inline
			if err := small.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
				return err
			}
		}
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for _, k := range []string{"ka", "kb", "kc"} {
			if err := big.Put([]byte(k), bytes.Repeat([]byte(k[1:]), 3*os.Getpagesize())); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, check := damageable(t, path, len(data))
	if err := check(false); err != nil {
		t.Fatalf("the sound file: %v", err)
	}
	// Every key of the two buckets (one leaf page each), found by its
	// bytes: each key's offset in the file.
	ps := os.Getpagesize()
	type key struct {
		off  int
		k    []byte
		page int
	}
	var keys []key
	for p := 2; p*ps < len(data); p++ {
		pg := data[p*ps:]
		if binary.LittleEndian.Uint64(pg) != uint64(p) || binary.LittleEndian.Uint16(pg[8:]) != leafPageFlag {
			continue
		}
		for i := range int(binary.LittleEndian.Uint16(pg[10:])) {
			at := pageHeaderSize + i*elemSize
			pos, ksize := int(binary.LittleEndian.Uint32(pg[at+4:])), int(binary.LittleEndian.Uint32(pg[at+8:]))
			k := pg[at+pos : at+pos+ksize]
			if (len(k) == 4 || len(k) == 2) && k[0] == 'k' {
				keys = append(keys, key{p*ps + at + pos, k, p})
			}
		}
	}
	beyond := 0
	tried := 0
	for i := 1; i < len(keys); i++ {
		cur, prev := keys[i], keys[i-1]
		if cur.page != prev.page {
			continue
		}
		if cur.off-cur.page*ps >= ps {
			beyond++ // in the overflow, past the page's first bytes
		}
		for _, change := range []struct {
			what string
			to   []byte
		}{
			{"below the key before", append([]byte{'a'}, cur.k[1:]...)},
			{"equal to the key before", prev.k},
		} {
			if len(change.to) != len(cur.k) {
				continue
			}
			if _, err := f.WriteAt(change.to, int64(cur.off)); err != nil {
				t.Fatal(err)
			}
			walked, swept := check(true), check(false)
			if _, err := f.WriteAt(cur.k, int64(cur.off)); err != nil {
				t.Fatal(err)
			}
			tried++
			if !errors.Is(swept, ErrCorrupt) || walked == nil || walked.Error() != swept.Error() {
				t.Errorf("key %q (page %d, byte %d) changed %s (%q): CheckPages %v, the walk %v; want ErrCorrupt from both", cur.k, cur.page, cur.off, change.what, change.to, swept, walked)
			}
		}
	}
	if beyond < 2 || tried < 60 {
		t.Fatalf("%d keys changed, %d of them in a page's overflow: the test checks too little", tried, beyond)
	}
	if err := check(false); err != nil {
		t.Fatalf("the file restored: %v", err)
	}
	t.Logf("%d keys changed, %d in a page's overflow", tried, beyond)
}
