package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestH34DamagedAppliedFirstRecordNeverDropsTheSyncRecordAfterIt: the log
// holds two records, A (the log's first, which bbolt holds: the applier
// took it) and B, a Sync write's, written once A was durable (lag 1: the
// last group known durable is A's), not yet applied. A kill leaves both
// files so; then a byte of A's body is flipped: damage to a record that
// is not the log's last. Open, read-only and read-write, must refuse the
// log (ErrCorrupt) or hold B.
//
// Found by TestH34KillAndDamage (seed 3038, kill 1, images 2 and 4: a
// byte of record 0 of 2 flipped; the log's records were groups 32 and 33,
// bbolt's mark 32). Cause (scanLog, internal/engine/wal.go): at a bad
// record the scan takes the group that should be there to be
// max(prev, applied)+1 (want); with the bad record the log's first
// (prev 0) and held by bbolt, that is applied+1, B's own group, not the
// bad record's (applied). B says it was written once group applied was
// durable (durable = applied < want), so the scan takes B for a record
// written before the bad one was durable, a power cut's, and drops it
// (LogScan.Cut) as a torn tail; the check that the valid records reach
// bbolt's mark is skipped when prev is 0. B, an acknowledged Sync write,
// is silently lost, and the bad record was never the last one.
func TestH34DamagedAppliedFirstRecordNeverDropsTheSyncRecordAfterIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	var (
		mu       sync.Mutex
		armed    bool
		calls    int
		applying = make(chan struct{}) // the applier is committing A
		release  = make(chan struct{}) // B is logged
		db, log  []byte                // the kill's image: A in bbolt, B logged only
		imgErr   error
	)
	commit := func(tx *bolt.Tx) error {
		mu.Lock()
		on := armed
		if on {
			calls++
		}
		n := calls
		mu.Unlock()
		switch {
		case on && n == 1:
			close(applying)
			<-release
		case on && n == 2:
			// The commit that would take B: the files as they are now.
			if db, imgErr = os.ReadFile(path); imgErr == nil {
				log, imgErr = os.ReadFile(path + walSuffix)
			}
		}
		return tx.Commit()
	}
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{CommitBolt: commit}}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	armed = true
	mu.Unlock()
	idA, err := s.Save(ctx, "t", map[string]any{"n": "A"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-applying:
	case <-time.After(time.Minute): // a hang guard only (a loaded machine may hold the applier back for seconds)
		t.Fatal("the applier never committed A")
	}
	idB, err := s.Save(ctx, "t", map[string]any{"n": "B"}, nil) // Sync: acknowledged durable
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if imgErr != nil || db == nil {
		t.Fatalf("no image taken (%d commits): %v", calls, imgErr)
	}
	recs := h34Chain(log)
	if len(recs) != 2 {
		t.Fatalf("the image's log holds %d records, want 2 (A applied, B not)", len(recs))
	}
	for _, off := range []int{-1, recs[0][0] + 24, recs[0][1] - 1, recs[0][0] + 30} { // -1: undamaged
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("flip=%d/readonly=%v", off, ro), func(t *testing.T) {
				cp := filepath.Join(t.TempDir(), "c.db")
				img := append([]byte(nil), log...)
				if off >= 0 {
					img[off] ^= 0x5a
				}
				if err := os.WriteFile(cp, db, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cp+walSuffix, img, 0o600); err != nil {
					t.Fatal(err)
				}
				c, err := Open(cp, Options{ReadOnly: ro})
				if errors.Is(err, ErrCorrupt) && off >= 0 {
					return // refused: damage reported
				}
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer c.Close()
				if _, err := c.Load(ctx, "t", idA); err != nil {
					t.Errorf("A (in bbolt): %v", err)
				}
				if _, err := c.Load(ctx, "t", idB); err != nil {
					t.Errorf("byte %d of the log's first record (records %v) flipped: Open succeeded without B, an acknowledged Sync write in the record after it: %v", off, recs, err)
				}
			})
		}
	}
}
