package ckpt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestRekeyLeavesAsyncFailuresToClose: an Async write that failed after
// it returned (here its group passed the log's record limit) is reported
// by the next Flush or Close (docs/durability.md). A Rekey between them
// waits for its re-sealing to be durable; it must not take that failure
// for itself, or Close returns nil, which vouches for the lost write (the
// h146 hunt, seed 1796649787 round 427, found it on a full disk).
func TestRekeyLeavesAsyncFailuresToClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	opts := Options{Durability: Async, Encryption: &Encryption{Keys: []Key{testKey(1, 1)}},
		tuning: &tuning{hooks: engine.Hooks{MaxRecordBody: 16 << 10}}}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "small", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "big", map[string]any{"v": bytes.Repeat([]byte{7}, 64<<10)}, nil)
	if err != nil {
		t.Fatalf("the Async Save returned %v: the case needs it to fail later", err)
	}
	_, rekeyErr := s.Rekey(ctx)
	closeErr := s.Close()
	if rekeyErr != nil {
		t.Errorf("Rekey: %v (its re-sealing is not what failed)", rekeyErr)
	}
	if closeErr == nil || !strings.Contains(closeErr.Error(), id) {
		t.Fatalf("Close after the Rekey: %v; want the failure of Async Save %s", closeErr, id)
	}
	r, err := Open(path, Options{Encryption: opts.Encryption})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.GetTuple(ctx, Config{ThreadID: "big"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed Save's thread after a reopen: %v, want ErrNotFound", err)
	}
}
