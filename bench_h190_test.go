package ckpt_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkPutFullNoWAL is BenchmarkPutFull in a NoWAL store: each
// PutFull is a bbolt transaction of its own, so a check made once per
// transaction (the write path's, internal/engine/write_path.go) is paid
// by every write, not shared by the applier's batch.
func BenchmarkPutFullNoWAL(b *testing.B) {
	msgs := benchMessages(10)
	for _, m := range []benchMode{
		{"nosync", ckpt.Options{NoWAL: true, Durability: ckpt.NoSync}},
		{"fakesync", ckpt.WithLogSync(ckpt.Options{NoWAL: true, Durability: ckpt.Sync}, fakeFsync(100*time.Microsecond))},
	} {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			parent := ""
			lat := startLatencies()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				cp, meta, nv, writes := benchStep(i, msgs)
				t0 := time.Now()
				cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent}, cp, meta, nv,
					[]ckpt.TaskWrites{{TaskID: "task-" + strconv.Itoa(i), Writes: writes}})
				if err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
				parent = cfg.CheckpointID
			}
			lat.report(b)
		})
	}
}
