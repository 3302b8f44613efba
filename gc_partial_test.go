package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// Retention commits at most gcTxKeys keys per transaction (gc_steps.go).
// Between two of them, a reader must see a checkpoint GC is dropping
// either whole, with all of its pending writes, or not at all: never with
// part of its writes gone (a resume from it would miss them). Here four
// checkpoints of 400 writes each are dropped (1,620 keys: two
// transactions at 1,000), and between them every one of them is read.
func TestGCNeverShowsACheckpointWithPartOfItsWrites(t *testing.T) {
	t.Parallel()
	const cps, writes = 5, 400
	// Each retention transaction is an op of its own: before each is sent,
	// the one before it is committed, and every checkpoint is read.
	var check func(when string)
	var inGC atomic.Bool
	sends := 0
	beforeSend := func() {
		if inGC.Load() {
			sends++
			check(fmt.Sprintf("before retention op %d", sends))
		}
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{BeforeSend: beforeSend}}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, s)
	ctx := context.Background()
	var cfgs []Config
	parent := ""
	for i := range cps {
		ver := strconv.Itoa(i + 1)
		cp := Checkpoint{V: 4, ChannelValues: map[string]any{"n": i}, ChannelVersions: map[string]string{"n": ver}}
		cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointID: parent}, cp, Metadata{"step": i}, map[string]string{"n": ver})
		if err != nil {
			t.Fatal(err)
		}
		ws := make([]Write, writes)
		for j := range ws {
			ws[j] = Write{Channel: "w", Value: j}
		}
		if err := s.PutWrites(ctx, cfg, ws, "task", ""); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
		parent = cfg.CheckpointID
	}
	check = func(when string) {
		for i, cfg := range cfgs {
			tup, err := s.GetTuple(ctx, cfg)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: checkpoint %d: %v", when, i, err)
			}
			if n := len(tup.PendingWrites); n != writes {
				t.Errorf("%s: checkpoint %d shows %d of its %d pending writes", when, i, n, writes)
			}
		}
	}
	check("before GC")
	inGC.Store(true)
	st, err := s.GC(ctx, Policy{KeepLast: 1})
	inGC.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checkpoints != cps-1 || st.Writes != (cps-1)*writes {
		t.Fatalf("GC removed %d checkpoints and %d writes, want %d and %d", st.Checkpoints, st.Writes, cps-1, (cps-1)*writes)
	}
	if sends < 2 {
		t.Fatalf("GC sent %d ops, want several (the test needs a boundary)", sends)
	}
	check("after GC")
}
