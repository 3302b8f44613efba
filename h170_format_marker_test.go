package ckpt

// Helper 170's hunt: the format marker (meta "format") under no checksum.
// A flipped byte of it that still reads as a format this build knows
// (8 ^ 0x0f = 7, ... 8 ^ 0x09 = 1) makes the file look older than it is:
// reads then skip the checks the newer format gives them (write tallies
// from 7, namespace entries from 8, record sums from 3), Verify skips
// them too, and a read-write Open "upgrades" the file, recounting every
// tally and relisting every namespace from what damage left readable, so
// the evidence of any other damage is written over for good.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// h170Store writes a store with one Save thread whose head has three
// pending writes, closes it and returns its path and the head's id.
func h170Store(t *testing.T) (path, head string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"step": 0}, nil); err != nil {
		t.Fatal(err)
	}
	if head, err = s.Save(ctx, "t", map[string]any{"step": 1}, nil); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ThreadID: "t", CheckpointID: head}
	for i := range 3 {
		if err := s.PutWrites(ctx, cfg, []Write{{Channel: "c", Value: i}}, fmt.Sprintf("task-%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, head
}

// h170Damage edits the closed file at path in bbolt: the marker's last
// byte xor mask, and, with hideWrite, the last pending write's key moved
// out of its checkpoint's range (the first byte of its namespace length
// flipped), as a flipped key byte moves it.
func h170Damage(t *testing.T, path string, mask byte, hideWrite bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v := append([]byte(nil), meta.Get(keyFormat)...)
		v[3] ^= mask
		if err := meta.Put(keyFormat, v); err != nil {
			return err
		}
		if !hideWrite {
			return nil
		}
		wr := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketWrites)
		k, val := wr.Cursor().Last()
		k, val = append([]byte(nil), k...), append([]byte(nil), val...)
		if err := wr.Delete(k); err != nil {
			return err
		}
		k[0] ^= 0x40
		return wr.Put(k, val)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestFormatMarkerFlippedOlder: a marker flipped to an older format this
// build reads is damage, not an older file: Open refuses it (ErrCorrupt),
// read-only or read-write, so no read goes unchecked and no upgrade
// writes over the file; Verify, which opens nothing but reads the
// marker, reports it.
func TestFormatMarkerFlippedOlder(t *testing.T) {
	for _, mask := range []byte{0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09} {
		format := formatVersion ^ uint32(mask)
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("format%d/readonly=%v", format, ro), func(t *testing.T) {
				path, _ := h170Store(t)
				h170Damage(t, path, mask, false)
				s, err := Open(path, Options{ReadOnly: ro})
				if err == nil {
					s.Close()
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open of a format %d marker flipped to %d: %v, want ErrCorrupt", formatVersion, format, err)
				}
			})
		}
	}
}

// TestFormatMarkerFlippedHidesWrite: the marker flipped to 6 and one
// pending write's key moved out of its checkpoint's range (two flipped
// bytes). The head's tally counts three writes: a read finding two is
// ErrCorrupt, never the two as all there are; and a read-write Open
// must not recount the tally from the two.
func TestFormatMarkerFlippedHidesWrite(t *testing.T) {
	ctx := context.Background()
	for _, ro := range []bool{true, false} {
		t.Run(fmt.Sprintf("readonly=%v", ro), func(t *testing.T) {
			path, head := h170Store(t)
			h170Damage(t, path, byte(formatVersion^6), true)
			s, err := Open(path, Options{ReadOnly: ro})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open: %v, want nil or ErrCorrupt", err)
				}
				return
			}
			defer s.Close()
			tup, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: head})
			switch {
			case errors.Is(err, ErrCorrupt):
			case err != nil:
				t.Fatalf("GetTuple: %v, want the head or ErrCorrupt", err)
			case len(tup.PendingWrites) != 3:
				t.Fatalf("GetTuple: %d pending writes and no error, want the 3 written or ErrCorrupt", len(tup.PendingWrites))
			}
		})
	}
}
