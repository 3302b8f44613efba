package ckpt

import (
	"context"
	"fmt"
	"testing"
)

// TestH177TupleBoxHoldsEveryWrite reads checkpoints with 0 to 7 pending
// writes: the tuple, its parent's config and its writes share one
// allocation for up to 4 writes (newTuple), a slice of its own above.
// Every write must come back, in order, with its own value, the slice
// must be exactly as long as its capacity (an append copies it, never
// reaching past the room), and two reads must not share their writes.
func TestH177TupleBoxHoldsEveryWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t, Options{})
	for n := range 8 {
		thread := fmt.Sprintf("t%d", n)
		first, err := s.Put(ctx, Config{ThreadID: thread}, Checkpoint{}, Metadata{"step": 0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		head, err := s.Put(ctx, first, Checkpoint{}, Metadata{"step": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ws []Write
		for i := range n {
			ws = append(ws, Write{Channel: fmt.Sprintf("c%d", i), Value: 100 + i})
		}
		if err := s.PutWrites(ctx, head, ws, "task", "path"); err != nil {
			t.Fatal(err)
		}
		for _, read := range []string{"GetTuple", "Reader"} {
			get := func() *Tuple {
				t.Helper()
				var tup *Tuple
				var err error
				if read == "GetTuple" {
					tup, err = s.GetTuple(ctx, Config{ThreadID: thread})
				} else {
					tup, err = s.NewReader().GetTuple(ctx, Config{ThreadID: thread})
				}
				if err != nil {
					t.Fatalf("%s, %d writes: %v", read, n, err)
				}
				return tup
			}
			tup, other := get(), get()
			pw := tup.PendingWrites
			if len(pw) != n || cap(pw) != n {
				t.Fatalf("%s, %d writes: len %d cap %d", read, n, len(pw), cap(pw))
			}
			if tup.ParentConfig == nil || tup.ParentConfig.CheckpointID != first.CheckpointID || tup.Config.CheckpointID != head.CheckpointID {
				t.Fatalf("%s, %d writes: config %+v parent %+v, want %s after %s", read, n, tup.Config, tup.ParentConfig, head.CheckpointID, first.CheckpointID)
			}
			for i, w := range pw {
				var v int
				if err := w.Value.Decode(&v); err != nil {
					t.Fatalf("%s, %d writes: write %d: %v", read, n, i, err)
				}
				if w.Idx != i || w.Channel != fmt.Sprintf("c%d", i) || w.TaskID != "task" || w.TaskPath != "path" || v != 100+i {
					t.Fatalf("%s, %d writes: write %d is %+v (value %d)", read, n, i, w, v)
				}
			}
			if n > 0 {
				pw[0].Channel = "changed"
				if other.PendingWrites[0].Channel != "c0" {
					t.Fatalf("%s, %d writes: two reads share their writes", read, n)
				}
			}
		}
	}
}
