package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH222OnQueueErrorIsSendsAndQueuesNothing: an OnQueue that fails makes
// Send return its error, the op never runs (with or without Done), its
// bytes are given back and queueMu let go, so later ops, with an OnQueue
// or without, go through at once (MaxPendingBytes fits one op: a leak of
// bytes or of the lock would block the next Send for good).
func TestH222OnQueueErrorIsSendsAndQueuesNothing(t *testing.T) {
	t.Parallel()
	for _, noWAL := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "e.db")
		e, err := Open(path, Options{
			Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal", NoWAL: noWAL,
			Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
			Observer: nopObserver{}, MaxPendingBytes: 100,
		})
		if err != nil {
			t.Fatal(err)
		}
		errNo := errors.New("h222: no id")
		var applied, hooked atomic.Int32
		ctx := context.Background()
		const n = 5000
		for i := range n {
			op := &Op{Ctx: ctx, Bytes: 60, OnQueue: func() error { hooked.Add(1); return errNo },
				Apply: func(w Writer) error {
					applied.Add(1)
					return w.Put(testBucket, []byte(fmt.Sprint("bad", i)), []byte("v"))
				}}
			if i%2 == 0 {
				op.Done = make(chan error, 1)
			}
			if err := e.Send(ctx, op); !errors.Is(err, errNo) {
				t.Fatalf("noWAL %v: Send %d: %v, want OnQueue's error", noWAL, i, err)
			}
		}
		if held := e.PendingBytes(); held != 0 {
			t.Fatalf("noWAL %v: %d bytes held after %d failed Sends", noWAL, held, n)
		}
		ok := put("good")
		ok.Bytes = 60
		ok.OnQueue = func() error { return nil }
		if err := do(e, ok); err != nil {
			t.Fatalf("noWAL %v: a Send after the failed ones: %v", noWAL, err)
		}
		for i := range 10 {
			op := put(fmt.Sprint("after", i))
			op.Bytes = 60
			if err := do(e, op); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if hooked.Load() != n || applied.Load() != 0 {
			t.Fatalf("noWAL %v: OnQueue ran %d times (want %d), Apply of a failed Send %d times (want 0)", noWAL, hooked.Load(), n, applied.Load())
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var bad, good int
		_ = db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("x"))
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, _ []byte) error {
				if len(k) >= 3 && string(k[:3]) == "bad" {
					bad++
				} else {
					good++
				}
				return nil
			})
		})
		_ = db.Close()
		if bad != 0 || good != 11 {
			t.Fatalf("noWAL %v: stored %d keys of failed Sends (want 0), %d others (want 11)", noWAL, bad, good)
		}
	}
}
