package ckpt

// A damaged key in a thread's history order (ids/) names a checkpoint
// that has no record. Retention dropping the whole thread (ThreadTTL)
// drops checkpoints a chunk at a time, each chunk read from ids/, and
// stops once ids/ is empty: the entry without a record was passed over
// as "already gone" and stayed, so every later chunk found it again,
// dropped nothing, and the job never finished (h30-hang: GC never
// returned, committing empty transactions).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRetentionEndsOnAnOrderEntryWithoutItsCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, ids, b := closedChain(t, 3)
	// The oldest checkpoint's order key is its id alone (namespace ""),
	// followed in its page by the next one's (ids/ values are empty
	// without pending writes); its cp/, md/ and index keys are followed
	// by a record or the thread's name. Its first byte lowered, the key
	// still sorts first and names no checkpoint.
	n := 0
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], ids[0][:])
		if j < 0 {
			break
		}
		i += j
		if !bytes.HasPrefix(b[i+idLen:], ids[1][:]) {
			continue
		}
		b[i]--
		n++
	}
	if n == 0 {
		t.Fatal("no order key of the oldest checkpoint found in the file")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	endsWithin(t, "GC with a thread TTL", func() {
		if _, err := s.GC(ctx, Policy{ThreadTTL: time.Nanosecond}); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("GC = %v, want nil or ErrCorrupt", err)
		}
	})
}

// A damaged checkpoint key that breaks its page's order hides the
// records after it from every lookup (bbolt's binary search trusts the
// order) while the history order still names them. Retention plans a
// thread a few checkpoints at a time (planLimit; one here) and plans it
// again while more are left: it found none of the planned ones to drop
// and planned the same ones again for ever (h30-hang: GC with KeepLast
// never returned).
func TestRetentionEndsOnCheckpointsItCannotFind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, ids, _ := closedChain(t, 20)
	// The sixth checkpoint's cp/ and md/ keys get a namespace length of
	// 0xff..: they sort last while they stay sixth in their pages. Found
	// in the file as Open left it: its commit moves pages, and where to
	// depends on timing (under load the damage of the closed file fell
	// on a page Open had freed, and GC met none).
	k := checkpointKey("", ids[5])
	s := openThenDamageFound(t, path, Options{tuning: &tuning{planLimit: 1}}, func(b []byte) {
		at := liveIndexes(b, k)
		if len(at) == 0 {
			t.Fatal("no checkpoint key of the sixth checkpoint found in the file")
		}
		for _, i := range at {
			b[i] = 0xff
		}
	})
	defer s.Close()
	endsWithin(t, "GC keeping the last checkpoint", func() {
		if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("GC = %v, want nil or ErrCorrupt", err)
		}
	})
}

// closedChain writes n empty checkpoints in a line to thread "t" of a new
// store, closes it, and returns its path, their ids (oldest first) and
// the file's bytes, to damage.
func closedChain(t *testing.T, n int) (path string, ids [][idLen]byte, b []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ThreadID: "t"}
	for range n {
		if cfg, err = s.Put(context.Background(), cfg, Checkpoint{}, nil, nil); err != nil {
			t.Fatal(err)
		}
		id, err := parseID("checkpoint", cfg.CheckpointID)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return path, ids, b
}
