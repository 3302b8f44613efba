package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestThreadSubBucketTurnedValueIsNoticed: a flipped bit in the flags of a
// thread's sub-bucket element (bbolt's bucketLeafFlag) makes the bucket a
// plain value: every record in it is gone from the walks, with no record
// left to fail its sum. Thread and Threads summarised such a thread with
// no error and its bytes short (ls/ or bl/ gone: a summary does not look
// up values or lineages), though every read of its values fails (the fault
// hunt of TestH164FlipSweep, seed 9344: ls/'s flag flipped). A summary
// must be right or ErrCorrupt.
func TestThreadSubBucketTurnedValueIsNoticed(t *testing.T) {
	t.Parallel()
	for _, sub := range threadSubBuckets {
		t.Run(string(sub), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{NoWAL: true})
			if err != nil {
				t.Fatal(err)
			}
			// Enough history that the thread's bucket has a page of its
			// own (its sub-buckets are elements of that page).
			var msgs []any
			for i := range 60 {
				msgs = append(msgs, fmt.Sprintf("message %d of the conversation, long enough to take room", i))
				cfg, err := s.Save(ctx, "t", map[string]any{"messages": msgs, "n": i}, Metadata{"step": i})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: cfg}, []Write{{Channel: "c", Value: i}}, "task", ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			flag := subBucketFlagOffset(t, path, "t", sub)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[flag] &^= 0x01 // bucketLeafFlag: a plain value now
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				if errors.Is(err, ErrCorrupt) {
					return
				}
				t.Fatal(err)
			}
			defer ro.Close()
			if info, err := ro.Thread(ctx, "t"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Thread with its %s/ bucket made a plain value: %+v, %v; want ErrCorrupt", sub, info, err)
			}
			for info, err := range ro.Threads(ctx) {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Threads with t's %s/ bucket made a plain value: %+v, %v; want ErrCorrupt", sub, info, err)
				}
				break
			}
			if rep, err := ro.Verify(ctx, VerifyOptions{}); err == nil && rep.OK() {
				t.Errorf("Verify reports nothing for t's %s/ bucket made a plain value", sub)
			}
		})
	}
}

// subBucketFlagOffset returns where, in the file at path, the flags of
// thread's sub-bucket sub lie (its element in the thread bucket's leaf
// page; the thread bucket must have a page of its own).
func subBucketFlagOffset(t *testing.T, path, thread string, sub []byte) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := db.Info().PageSize
	off := -1
	err = db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketThreads).Bucket([]byte(thread))
		if tb == nil || tb.Root() == 0 {
			return errors.New("the thread bucket is missing or inline")
		}
		base := int(tb.Root()) * ps
		if flags := binary.LittleEndian.Uint16(raw[base+8:]); flags != 0x02 {
			return fmt.Errorf("the thread bucket's root page %d is not a leaf (flags %#x)", tb.Root(), flags)
		}
		for i := range int(binary.LittleEndian.Uint16(raw[base+10:])) {
			e := base + 16 + 16*i
			pos := int(binary.LittleEndian.Uint32(raw[e+4:]))
			ks := int(binary.LittleEndian.Uint32(raw[e+8:]))
			if string(raw[e+pos:e+pos+ks]) == string(sub) {
				if raw[e]&0x01 == 0 {
					return fmt.Errorf("element %q is not a bucket", sub)
				}
				off = e
				return nil
			}
		}
		return fmt.Errorf("no element %q in page %d", sub, tb.Root())
	})
	if err != nil {
		t.Fatal(err)
	}
	return off
}
