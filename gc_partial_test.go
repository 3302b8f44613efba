package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// Retention commits at most gcTxKeys keys per transaction (gc_steps.go).
// Between two of them, a reader must see a checkpoint GC is dropping
// either whole, with all of its pending writes, or not at all: never with
// part of its writes gone (a resume from it would miss them). Here four
// (KeepLast) or five (ThreadTTL, the whole thread) checkpoints of 400
// writes each are dropped (over 1,600 keys: several transactions at
// 1,000), and between two transactions every one of them is read. With
// 1,500 writes each, a checkpoint holds more than one transaction's
// budget: it goes whole, in one larger transaction, not split.
func TestGCNeverShowsACheckpointWithPartOfItsWrites(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]Policy{
		"KeepLast":  {KeepLast: 1},
		"ThreadTTL": {ThreadTTL: time.Nanosecond}, // the whole thread, in chunks
	} {
		for _, writes := range []int{400, 1500} {
			t.Run(fmt.Sprintf("%s/%d writes", name, writes), func(t *testing.T) {
				t.Parallel()
				gcShowsNoPartialCheckpoint(t, p, writes)
			})
		}
	}
}

func gcShowsNoPartialCheckpoint(t *testing.T, p Policy, writes int) {
	const cps = 5
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
	st, err := s.GC(ctx, p)
	inGC.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	want := cps - 1
	if p.ThreadTTL > 0 {
		want = cps
	}
	if st.Checkpoints != want || st.Writes != want*writes {
		t.Fatalf("GC removed %d checkpoints and %d writes, want %d and %d", st.Checkpoints, st.Writes, want, want*writes)
	}
	if sends < 2 {
		t.Fatalf("GC sent %d ops, want several (the test needs a boundary)", sends)
	}
	check("after GC")
}
