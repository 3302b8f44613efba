//go:build linux

package engine

// The log's growth meeting a full disk at each of its steps, then room
// again (helper-158, after TestRealFullDiskGoesOn failed once with a
// growth's ENOSPC after the filler was gone): on a small tmpfs filled to
// every page count of free room from none to past a growth step and a
// record, records are appended (each with its proof, as vouch writes
// them) until three in a row fail. A growth then stops wherever the room
// ends: at the ftruncate, part-way through its zeros (the first try, or
// the record-sized second), or it fits the record before it finds no
// room. Every failure must be ErrDiskFull alone; once the filler is gone
// the same log must take five more records at once (no state left by a
// failed growth, a half-written step of zeros, a length past the written
// part, may refuse them), and the log must read back exactly the records
// that were acknowledged, each group once, in order.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestLogGrowthAfterAFullDiskGoesOn(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 2<<20)
	const (
		page = 4096
		step = 16 * page // the log's growth (Hooks.LogGrow)
	)
	// Records of some 9 KiB (a growth step holds a few; each proof is
	// padded to the next block) and of more than a step (its growth is
	// its own end and a header).
	for _, size := range []int{9000, step + 3000} {
		for free := int64(0); free <= step+4*page; free += page {
			t.Run(fmt.Sprintf("record %d free %d", size, free), func(t *testing.T) { growFullRound(t, mnt, step, free, size) })
		}
	}
}

func growFullRound(t *testing.T, mnt string, step, free int64, size int) {
	dir, err := os.MkdirTemp(mnt, "g")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.grow = step
	val := func(gen uint64) []byte { return bytes.Repeat([]byte{byte('a' + gen%26)}, size+int(gen)) }
	var acked []uint64
	gen := uint64(1)
	appendOne := func() error {
		muts := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: fmt.Appendf(nil, "k%d", gen), Val: val(gen)}}
		if _, err := l.Append(gen, gen-1, muts); err != nil {
			return err
		}
		if err := l.AppendProof(gen); err != nil {
			return fmt.Errorf("proof of group %d: %w", gen, err)
		}
		acked = append(acked, gen)
		gen++ // a failed group's number is taken by the next
		return nil
	}
	for range 3 {
		if err := appendOne(); err != nil {
			t.Fatalf("append with room: %v", err)
		}
	}
	filler := filepath.Join(mnt, "filler")
	defer os.Remove(filler)
	if err := h32Fill(filler, free); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for inRow, n := 0, 0; inRow < 3; n++ {
		if n > 64 {
			t.Fatalf("%d appends on a disk with %d bytes free, the last three did not all fail", n, free)
		}
		err := appendOne()
		if err == nil {
			inRow = 0
			continue
		}
		if !errors.Is(err, ErrDiskFull) {
			t.Fatalf("append %d on a full disk: %v, want ErrDiskFull", gen, err)
		}
		inRow++
		failed++
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for k := range 5 {
		if err := appendOne(); err != nil {
			t.Fatalf("append %d of 5 once there is room (log offset %d, written %d, length %d): %v", k, l.off, l.size, l.length, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged, %d failed", len(acked), failed)
	sc, err := ScanLog(path, 0)
	if err != nil || sc.Damage != nil {
		t.Fatalf("scan: %+v, %v", sc, err)
	}
	if len(sc.Groups) != len(acked) {
		t.Fatalf("the log holds %d groups, %d acknowledged", len(sc.Groups), len(acked))
	}
	for i, g := range sc.Groups {
		if g.Gen != acked[i] || len(g.Muts) != 1 || !bytes.Equal(g.Muts[0].Val, val(g.Gen)) {
			t.Errorf("group %d of the log reads gen %d (%d changes), want gen %d", i, g.Gen, len(g.Muts), acked[i])
		}
	}
}
