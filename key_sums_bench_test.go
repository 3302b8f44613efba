package ckpt

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkGetTupleSums is an in-process A/B/C of the sums over the key
// and the thread on reads: GetTuple(latest) of three W1-shaped threads of
// one store (50 steps; a growing list of 200-byte messages, a 1 KiB
// context, metadata, two pending writes a step), one rewritten as format 4
// wrote it (XXH3 of the record alone), one as format 5 did (XXH3 over key
// and record), the third as this build writes it (XXH3 over thread, key
// and record). The read code is the same; only the version bytes differ
// (the thread's seed is computed on every read of each). With -count N
// the three alternate N times in one process.
func BenchmarkGetTupleSums(b *testing.B) {
	ctx := context.Background()
	s, err := Open(b.TempDir()+"/sums.db", Options{Durability: NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	threads := []string{"xxh3", "xxh3+key", "xxh3+key+thread"}
	for _, thread := range threads {
		cfg := Config{ThreadID: thread}
		var msgs []any
		for i := range 50 {
			msgs = append(msgs, map[string]any{"role": "user", "content": strings.Repeat("u", 200)},
				map[string]any{"role": "assistant", "content": strings.Repeat("a", 200)})
			v := strconv.Itoa(i + 1)
			vers := map[string]string{"messages": v, "context": "1", "step": v}
			nv := map[string]string{"messages": v, "step": v}
			if i == 0 {
				nv["context"] = "1"
			}
			cfg, err = s.Put(ctx, cfg, Checkpoint{ChannelValues: map[string]any{"messages": msgs, "context": strings.Repeat("c", 1024), "step": i},
				ChannelVersions: vers}, Metadata{"source": "loop", "step": i, "node": "agent", "run_id": "run-1"}, nv)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "messages", Value: "w"}, {Channel: "step", Value: i}}, "task-"+v, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
	toFormat(b, s, 4, "xxh3")
	toFormat(b, s, 5, "xxh3+key") // the file is marked 5: reads do not look
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, thread := range threads {
		b.Run("sum="+thread, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.GetTuple(ctx, Config{ThreadID: thread}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThreadSeed is what a read or write pays once for the sums over
// the thread (seedOf): XXH3 of the thread id, a short one (W1's) and a
// UUID.
func BenchmarkThreadSeed(b *testing.B) {
	for _, id := range []string{"w1-thread-0042", "3f2a9c4e-8b1d-4e7a-9c3f-2d5e6a7b8c9d"} {
		b.Run(fmt.Sprintf("len=%d", len(id)), func(b *testing.B) {
			var x threadSeed
			for b.Loop() {
				x ^= seedOf(id)
			}
			if x == 1 {
				b.Log(x)
			}
		})
	}
}
