//go:build !race

// Not under the race detector: it makes sync.Pool drop what is put back
// at random, and the tuple readers are pooled.

package ckpt

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGetTupleAllocations bounds the allocations of a GetTuple(latest) of a
// W1-shaped thread (a growing message list, a turn count, two pending
// writes) at the figures after issue 18's cuts, read through the log's
// overlay (nothing applied yet) and from bbolt alone (after ApplyLog), so
// that a change that adds one fails here. Round-robin over three threads,
// as R1 reads: a new thread each call. Before the cuts: 26 and 13 (a
// cursor, its prefix and two closures per overlay scan, the prefix's end
// of a reverse scan, the thread's name per call). Through the overlay 16
// since the newest checkpoint is checked against the newest metadata key
// (latestMetadata: a scan, and an overlay scan makes a btree iterator,
// where the metadata's Get made none).
func TestGetTupleAllocations(t *testing.T) {
	ctx := context.Background()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "a.db"))
	type msg struct{ Role, Content string }
	const threads = 3
	for th := range threads {
		var msgs []msg
		parent := ""
		for step := range 20 {
			msgs = append(msgs, msg{"user", strings.Repeat("x", 200)})
			ver := fmt.Sprint(step + 1)
			cp := Checkpoint{V: 4, ChannelValues: map[string]any{"messages": msgs, "turn_count": step + 1},
				ChannelVersions: map[string]string{"messages": ver, "turn_count": ver}}
			cfg, err := s.PutFull(ctx, Config{ThreadID: fmt.Sprint("thread-", th), CheckpointID: parent}, cp,
				Metadata{"step": step, "node": "answer"}, map[string]string{"messages": ver, "turn_count": ver},
				[]TaskWrites{{TaskID: "task", Writes: []Write{{Channel: "messages", Value: msgs[len(msgs)-1]}, {Channel: "turn_count", Value: step + 1}}}})
			if err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	cfgs := make([]Config, threads)
	for i := range cfgs {
		cfgs[i] = Config{ThreadID: fmt.Sprint("thread-", i)}
	}
	n := 0
	get := func() {
		tup, err := s.GetTuple(ctx, cfgs[n%threads])
		n++
		if err != nil || len(tup.PendingWrites) != 2 || len(tup.Checkpoint.ChannelValues) != 2 {
			t.Fatalf("GetTuple = %v, %v", tup, err)
		}
	}
	for _, c := range []struct {
		name  string
		apply bool
		max   float64
	}{{"through the overlay", false, 16}, {"from bbolt alone", true, 12}} {
		if c.apply {
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := testing.AllocsPerRun(300, get); got > c.max {
			t.Errorf("GetTuple(latest) %s: %.0f allocations, want at most %.0f", c.name, got, c.max)
		} else {
			t.Logf("GetTuple(latest) %s: %.0f allocations", c.name, got)
		}
	}
}

// TestGetTupleBytes bounds the bytes a GetTuple(latest) of a W1-shaped
// thread allocates: the values and pending writes it returns (its own
// copy, 12 KB here), rounded up to the runtime's size class (up to a
// fifth more above 1 KB; 10% here), and a fixed part for the tuple's maps, strings
// and structs (1.7 KB on W1). The GC runs once per few MB a store's reads
// allocate, so that a read's bytes are what its mean pays for the GC
// (bench/RESULTS.md, "R1's tail is the GC"): a copy made by append growth
// instead of at its exact size, or a value copied twice, fails here.
func TestGetTupleBytes(t *testing.T) {
	ctx := context.Background()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "b.db"))
	type msg struct{ Role, Content string }
	const threads, steps = 3, 50
	for th := range threads {
		var msgs []msg
		parent := ""
		for step := range steps {
			msgs = append(msgs, msg{"user", strings.Repeat("x", 200)})
			ver := fmt.Sprint(step + 1)
			values := map[string]any{"messages": msgs, "turn_count": step + 1}
			nv := map[string]string{"messages": ver, "turn_count": ver}
			if step == 0 {
				values["context"], nv["context"] = strings.Repeat("c", 1024), "1"
			}
			cp := Checkpoint{V: 4, ChannelValues: values,
				ChannelVersions: map[string]string{"messages": ver, "turn_count": ver, "context": "1"}}
			cfg, err := s.PutFull(ctx, Config{ThreadID: fmt.Sprint("thread-", th), CheckpointID: parent}, cp,
				Metadata{"step": step, "node": "answer", "source": "loop"}, nv,
				[]TaskWrites{{TaskID: "task", Writes: []Write{{Channel: "messages", Value: msgs[len(msgs)-1]}, {Channel: "turn_count", Value: step + 1}}}})
			if err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	cfgs := make([]Config, threads)
	payload := 0 // the value bytes a call returns, on average
	for i := range cfgs {
		cfgs[i] = Config{ThreadID: fmt.Sprint("thread-", i)}
		tup, err := s.GetTuple(ctx, cfgs[i])
		if err != nil || len(tup.PendingWrites) != 2 || len(tup.Checkpoint.ChannelValues) != 3 {
			t.Fatalf("GetTuple = %v, %v", tup, err)
		}
		for _, v := range tup.Checkpoint.ChannelValues {
			payload += len(v.(Raw))
		}
		for _, w := range tup.PendingWrites {
			payload += len(w.Value)
		}
	}
	payload /= threads
	const calls, fixed = 3000, 2048
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for n := range calls {
		if _, err := s.GetTuple(ctx, cfgs[n%threads]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	got := int(after.TotalAlloc-before.TotalAlloc) / calls
	if limit := payload + payload/5 + fixed; got > limit {
		t.Errorf("GetTuple(latest) allocates %d bytes a call for %d bytes of values and writes, want at most %d", got, payload, limit)
	} else {
		t.Logf("GetTuple(latest) allocates %d bytes a call for %d bytes of values and writes", got, payload)
	}

	// A Reader copies them into the block it keeps: the fixed part alone.
	r := s.NewReader()
	if _, err := r.GetTuple(ctx, cfgs[0]); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&before)
	for n := range calls {
		if _, err := r.GetTuple(ctx, cfgs[n%threads]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := int(after.TotalAlloc-before.TotalAlloc) / calls; got > fixed {
		t.Errorf("Reader.GetTuple(latest) allocates %d bytes a call, want at most %d", got, fixed)
	} else {
		t.Logf("Reader.GetTuple(latest) allocates %d bytes a call", got)
	}
}
