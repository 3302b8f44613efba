//go:build linux

package powerfs

import (
	"math/rand/v2"
	"testing"
)

// TestImageFailedFsync: the record's model of a failed fsync, without
// FUSE. A write a failed fsync should have covered is not durable, not
// even after a later good fsync (the kernel marked its pages clean); a
// write after the failure is, once fsync'd.
func TestImageFailedFsync(t *testing.T) {
	r := &Record{}
	r.add(Op{Kind: OpCreate, Name: "f", File: 1})
	r.add(Op{Kind: OpFsyncDir})
	r.add(Op{Kind: OpWrite, File: 1, Off: 0, Data: []byte("good")})
	r.add(Op{Kind: OpFsync, File: 1})
	r.add(Op{Kind: OpWrite, File: 1, Off: 4, Data: []byte("lost")})
	r.add(Op{Kind: OpFsyncFail, File: 1})
	r.add(Op{Kind: OpWrite, File: 1, Off: 8, Data: []byte("next")})
	r.add(Op{Kind: OpFsync, File: 1})
	r.Mark(1)
	for seed := range uint64(20) {
		im, err := r.Image(1, rand.New(rand.NewPCG(seed, 1)), Loss{Keep: 0, Tear: 0})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(im.Files["f"]), "good\x00\x00\x00\x00next"; got != want {
			t.Fatalf("seed %d: the file is %q, want %q (the failed fsync's write lost, the rest durable)", seed, got, want)
		}
		if im.Lost != 1 {
			t.Fatalf("seed %d: %d ops lost, want 1", seed, im.Lost)
		}
	}
}
