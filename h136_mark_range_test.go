package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// flipAppliedMark flips mask into byte at of the 8-byte value of the
// store's wal-applied mark (closed store at path), wherever the file
// holds the key and that value in a row (the live leaf, and any stale
// copy beside it), and returns the mark's value before.
func flipAppliedMark(t *testing.T, path string, at int, mask byte) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var val []byte
	if err := db.View(func(tx *bolt.Tx) error {
		val = bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(val) != 8 {
		t.Fatalf("the mark is %d bytes, want 8", len(val))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := append(bytes.Clone(keyWALApplied), val...)
	n := 0
	for off := 0; ; {
		j := bytes.Index(data[off:], kv)
		if j < 0 {
			break
		}
		data[off+j+len(keyWALApplied)+at] ^= mask
		n++
		off += j + len(kv)
	}
	if n == 0 {
		t.Fatal("the mark is not in the file as key and value in a row")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint64(val)
}

// TestAppliedMarkPastAnyGroupIsCorrupt: the store file's mark of the
// log's last applied group is a bare u64 (no checksum); a flipped bit in
// its top two bytes makes it larger than any group a log record can
// number (2^48-1). Up to now the store opened, Verify found nothing, and
// the first write failed the store for good ("store failed after an I/O
// error; reopen it": every reopen did the same). Now a read-write Open
// refuses the file (ErrCorrupt), Verify reports the mark, and `ckpt
// recover` puts the mark back where the file's binding to its log says
// it was, after which the store writes again with nothing lost.
func TestAppliedMarkPastAnyGroupIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		at   int
		mask byte
	}{{0, 0x01}, {0, 0x80}, {1, 0xff}} {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 3)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		flipAppliedMark(t, path, tc.at, tc.mask)
		if s, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				_, werr := s.Save(ctx, "t", map[string]any{"i": 9}, nil)
				_ = s.Close()
				t.Fatalf("byte %d ^ %#x: Open succeeded (the next Save: %v), want ErrCorrupt", tc.at, tc.mask, werr)
			}
			t.Fatalf("byte %d ^ %#x: Open = %v, want ErrCorrupt", tc.at, tc.mask, err)
		}
		r, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("byte %d ^ %#x: read-only Open: %v", tc.at, tc.mask, err)
		}
		checkLoads(t, r, "t", ids)
		rep, err := r.Verify(ctx, VerifyOptions{})
		if err != nil || rep.OK() {
			t.Errorf("byte %d ^ %#x: Verify = %+v, %v; want the mark reported", tc.at, tc.mask, rep, err)
		}
		_ = r.Close()
		if _, err := RecoverLog(path, Options{}); err != nil {
			t.Fatalf("byte %d ^ %#x: RecoverLog: %v", tc.at, tc.mask, err)
		}
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatalf("byte %d ^ %#x: Open after RecoverLog: %v", tc.at, tc.mask, err)
		}
		checkLoads(t, s, "t", ids)
		more := saveN(t, s, "t", 3, 2)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r, err = Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		checkLoads(t, r, "t", append(ids, more...))
		if rep, err := r.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("byte %d ^ %#x: Verify after RecoverLog = %+v, %v", tc.at, tc.mask, rep, err)
		}
		_ = r.Close()
	}
}
