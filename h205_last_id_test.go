package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h205: a checkpoint put with an id at the very end of the ULID space
// ("7ZZZZZZZZZZZZZZZZZZZZZZZZY": Put takes any valid ULID as cp.ID) left
// the store's id source with no id after it. The source stepped one past
// its floor with a carry that wrapped around: the next Save, in that
// thread or any other, was acknowledged under id 00000000000000000000000000
// (time 1970), below its parent, so Latest went on returning the old head
// (the acknowledged state was not the thread's newest: the next Save
// continued from the old one) and GC with any MaxAge took it. Every write
// that draws an id must either be the newest of its thread, exactly as
// written, or fail with nothing written; also after a reopen (whose floor
// is the newest id stored) and in Async (failing at the call since
// h220: ErrIDsExhausted; the test accepts a failure at Flush too).
func TestH205NoIDWrapsAroundAfterTheLargest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := s.Save(ctx, "u", map[string]any{"n": 0}, nil); err != nil {
		t.Fatal(err)
	}
	const nearLast = "7ZZZZZZZZZZZZZZZZZZZZZZZZY"
	if _, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: nearLast, ChannelValues: map[string]any{"n": 0},
		ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			n++
		}
		return n
	}
	// save stores n on thread as a Save (or a Put without an id) and
	// checks the outcome: nil and the thread's newest with its state, or
	// an error and nothing written.
	step := 0
	save := func(what, thread string, dur ckpt.Durability, put bool) {
		t.Helper()
		step++
		before := count()
		head, err := s.Latest(ctx, thread)
		if err != nil {
			t.Fatal(err)
		}
		wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: dur})
		var id string
		if put {
			var cfg ckpt.Config
			cfg, err = s.Put(wctx, ckpt.Config{ThreadID: thread, CheckpointID: head.CheckpointID}, ckpt.Checkpoint{
				ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": fmt.Sprint("v", step)}},
				nil, map[string]string{"n": fmt.Sprint("v", step)})
			id = cfg.CheckpointID
		} else {
			id, err = s.Save(wctx, thread, map[string]any{"n": step}, nil)
		}
		if dur == ckpt.Async && err == nil {
			err = s.Flush(ctx)
		}
		after := count()
		if err != nil {
			if after != before {
				t.Errorf("%s: failed (%v) and yet %d checkpoints became %d", what, err, before, after)
			}
			return
		}
		if id <= head.CheckpointID {
			t.Errorf("%s: acknowledged under id %s, not after its parent %s", what, id, head.CheckpointID)
		}
		got, err := s.Latest(ctx, thread)
		if err != nil {
			t.Fatalf("%s: Latest: %v", what, err)
		}
		var n int
		if err := got.Decode("n", &n); err != nil || got.CheckpointID != id || n != step {
			t.Errorf("%s: acknowledged as %s (n=%d), but Latest is %s (n=%d, %v)", what, id, step, got.CheckpointID, n, err)
		}
	}
	for round := range 2 {
		for _, thread := range []string{"t", "u", "new"} {
			if thread == "new" {
				// A new thread: no head to compare with, its Save must be
				// its Latest.
				id, err := s.Save(ctx, fmt.Sprint("new", round), map[string]any{"n": 1}, nil)
				if err == nil {
					if got, err := s.Latest(ctx, fmt.Sprint("new", round)); err != nil || got.CheckpointID != id {
						t.Errorf("round %d: Save of a new thread acknowledged as %s, Latest %v %v", round, id, got, err)
					}
					if _, err := s.GC(ctx, ckpt.Policy{MaxAge: 1 << 40}); err != nil { // about 18 minutes
						t.Fatal(err)
					}
				}
				continue
			}
			for _, dur := range []ckpt.Durability{ckpt.Sync, ckpt.NoSync, ckpt.Async} {
				for _, put := range []bool{false, true} {
					save(fmt.Sprintf("round %d: thread %s, durability %v, put %v", round, thread, dur, put), thread, dur, put)
				}
			}
		}
		if err := s.Close(); err != nil && !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Fatal(err)
		}
		if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}
