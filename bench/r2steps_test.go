package main

import (
	"context"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR2Steps is the bench's R2 (reads.go: GetTuple by id of
// 10,000 random picks over W1's 100 threads) with each pick's step folded
// into one band of steps: how a GetTuple by id's cost grows with the
// checkpoint's size (step s holds s+1 messages). The peer's getTuple
// parses the whole checkpoint, so its R2 (picks of every step, 25.5
// messages on average) makes about 1.2x its R1's calls a second (50
// messages); a part of ours that does not shrink with the tuple would
// make R2's ratio to the peer lower than R1's.
func BenchmarkR2Steps(b *testing.B) {
	for _, band := range []struct {
		name     string
		from, to int
	}{{"steps-0-9", 0, 10}, {"steps-20-29", 20, 30}, {"steps-40-49", 40, 50}} {
		b.Run(band.name, func(b *testing.B) {
			in := buildW1Input(100, 50, 200, 1024, 10000)
			benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
				p := in.picks[n%len(in.picks)]
				s := band.from + p[1]%(band.to-band.from)
				_, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[s]})
				return err
			})
		})
	}
}
