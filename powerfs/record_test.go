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

// TestImageFailedFsyncDir: a failed fsync of a directory. The entries it
// should have made durable (a create, a rename) may or may not survive a
// power cut, whatever good fsyncs of the directory follow (the failed
// writeback's state is unknown: ext4 aborts its journal, and a later
// fsync need not write them again); an entry made after the failure is
// durable once fsync'd. Every draw keeps "later"; some lose "new" or the
// rename, some keep them.
func TestImageFailedFsyncDir(t *testing.T) {
	r := &Record{}
	r.add(Op{Kind: OpCreate, Name: "old", File: 1})
	r.add(Op{Kind: OpFsyncDir})
	r.add(Op{Kind: OpCreate, Name: "tmp", File: 2})
	r.add(Op{Kind: OpRename, Name: "tmp", Name2: "new"})
	r.add(Op{Kind: OpFsyncDirFail})
	r.add(Op{Kind: OpCreate, Name: "later", File: 3})
	r.add(Op{Kind: OpFsyncDir})
	r.Mark(1)
	lost, kept := 0, 0
	for seed := range uint64(40) {
		im, err := r.Image(1, rand.New(rand.NewPCG(seed, 1)), Loss{Keep: 0.5, Tear: 0})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := im.Files["later"]; !ok {
			t.Fatalf("seed %d: the entry made durable after the failure is gone: %v", seed, im.Files)
		}
		if _, ok := im.Files["old"]; !ok {
			t.Fatalf("seed %d: the entry made durable before the failure is gone: %v", seed, im.Files)
		}
		if _, ok := im.Files["new"]; ok {
			kept++
		} else {
			lost++
		}
	}
	if lost == 0 || kept == 0 {
		t.Fatalf("of 40 images, the renamed entry the failed directory fsync should have covered was lost in %d, kept in %d: want some of each", lost, kept)
	}
}
