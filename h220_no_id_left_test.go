package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h220: once the store holds the largest ULID (a checkpoint put with
// that id, imported, or written by a clock far ahead), no new checkpoint
// id sorts after it. A Sync Save said so, but an Async Save returned the
// zero id 00000000000000000000000000 and nil: acknowledged, never stored,
// its failure left for Flush to report (naming the zero id). The rule of
// every write API, in every durability: a call that returns an error
// leaves nothing stored, a call that returns nil is stored under the id
// it returned (and Flush has no failure of it to report); also after a
// reopen, whose floor is the newest stored id (seedIDs).
func TestH220WriteWithNoIDLeftFailsAtTheCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	var mu sync.Mutex
	var asyncErrs []error
	opts := ckpt.Options{OnAsyncError: func(err error) {
		mu.Lock()
		asyncErrs = append(asyncErrs, err)
		mu.Unlock()
	}}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := s.Save(ctx, "u", map[string]any{"n": 0}, nil); err != nil {
		t.Fatal(err)
	}
	const last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	if _, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": 0},
		ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			n++
		}
		return n
	}
	type call func(wctx context.Context, thread string, step int) (string, error)
	calls := map[string]call{
		"Save": func(wctx context.Context, thread string, step int) (string, error) {
			return s.Save(wctx, thread, map[string]any{"n": step}, nil)
		},
		"Put": func(wctx context.Context, thread string, step int) (string, error) {
			cfg, err := s.Put(wctx, ckpt.Config{ThreadID: thread}, ckpt.Checkpoint{ChannelValues: map[string]any{"n": step},
				ChannelVersions: map[string]string{"n": fmt.Sprint("v", step)}}, nil, map[string]string{"n": fmt.Sprint("v", step)})
			return cfg.CheckpointID, err
		},
		"PutFull": func(wctx context.Context, thread string, step int) (string, error) {
			cfg, err := s.PutFull(wctx, ckpt.Config{ThreadID: thread}, ckpt.Checkpoint{ChannelValues: map[string]any{"n": step},
				ChannelVersions: map[string]string{"n": fmt.Sprint("v", step)}}, nil, map[string]string{"n": fmt.Sprint("v", step)},
				[]ckpt.TaskWrites{{TaskID: "task", Writes: []ckpt.Write{{Channel: "c", Value: step}}}})
			return cfg.CheckpointID, err
		},
	}
	step := 0
	for round := range 2 {
		for _, name := range []string{"Save", "Put", "PutFull"} {
			for _, dur := range []ckpt.Durability{ckpt.Sync, ckpt.NoSync, ckpt.Async} {
				for _, thread := range []string{"t", "u", fmt.Sprint("new", step)} {
					step++
					what := fmt.Sprintf("round %d: %s, %v, thread %s", round, name, dur, thread)
					before := count()
					wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: dur})
					id, err := calls[name](wctx, thread, step)
					ferr := s.Flush(ctx)
					after := count()
					if err != nil {
						if !errors.Is(err, ckpt.ErrIDsExhausted) || !errors.Is(err, ckpt.ErrInvalidConfig) {
							t.Errorf("%s: %v, want ErrIDsExhausted (and ErrInvalidConfig)", what, err)
						}
						if after != before {
							t.Errorf("%s: failed (%v) and yet %d checkpoints became %d", what, err, before, after)
						}
						if ferr != nil {
							t.Errorf("%s: failed at the call (%v), and Flush reports %v", what, err, ferr)
						}
						continue
					}
					// Acknowledged: stored, under the id returned.
					if ferr != nil {
						t.Errorf("%s: acknowledged as %s, then Flush: %v", what, id, ferr)
					}
					got, lerr := s.Load(ctx, thread, id)
					var n int
					if lerr == nil {
						lerr = got.Decode("n", &n)
					}
					if lerr != nil || n != step {
						t.Errorf("%s: acknowledged as %s (n=%d) with nil, but Load: n=%d, %v", what, id, step, n, lerr)
					}
				}
			}
		}
		// PutWrites draws no id: it is stored, in every durability.
		for _, dur := range []ckpt.Durability{ckpt.Sync, ckpt.NoSync, ckpt.Async} {
			wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: dur})
			task := fmt.Sprintf("r%d-%v", round, dur)
			if err := s.PutWrites(wctx, ckpt.Config{ThreadID: "t", CheckpointID: last}, []ckpt.Write{{Channel: "c", Value: 1}}, task, ""); err != nil {
				t.Errorf("round %d: PutWrites %v: %v", round, dur, err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Errorf("round %d: PutWrites %v, then Flush: %v", round, dur, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
		if s, err = ckpt.Open(path, opts); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range asyncErrs {
		t.Errorf("OnAsyncError heard of an acknowledged write lost: %v", err)
	}
	tup, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: last})
	if err != nil || len(tup.PendingWrites) != 6 {
		t.Errorf("the pending writes of %s: %d, %v; want the 6 PutWrites", last, len(tup.PendingWrites), err)
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}
