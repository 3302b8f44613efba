package ckpt

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkGetTupleSums is an in-process A/B of the sum over the key on
// reads: GetTuple(latest) of two W1-shaped threads of one store (50 steps;
// a growing list of 200-byte messages, a 1 KiB context, metadata, two
// pending writes a step), one rewritten as format 4 wrote it (XXH3 of the
// record alone), the other as this build writes it (XXH3 over key and
// record). The read code is the same; only the version bytes differ. With
// -count N the two alternate N times in one process.
func BenchmarkGetTupleSums(b *testing.B) {
	ctx := context.Background()
	s, err := Open(b.TempDir()+"/sums.db", Options{Durability: NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, thread := range []string{"xxh3", "xxh3+key"} {
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
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, thread := range []string{"xxh3", "xxh3+key"} {
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
