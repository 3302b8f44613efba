package ckpt

// A branch page's key that differs from its child page's first key, the
// order of the keys kept (a flipped low byte), passes bbolt's page check
// and every read: a lookup still descends to the right child. A write
// there does not: bbolt finds the child's element in its parent by the
// child's first key, misses it, adds a second element and later frees
// the child's old page twice (it panics, "page N already freed"). The
// write fails after the log holds it, and the log it cannot apply then
// fails every later read-write Open: a Put that returned nil cannot be
// read back by a store that opens for writing, and a GC breaks the file.
// (TestHuntWritesOnDamagedFiles, seed 50727, lost an acknowledged Save
// on such a file.)

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// damageBranchKeys lowers the last byte of element 1's key in every
// branch page of b where that keeps the key above every key of element
// 0's child (the order kept, the key no longer its child's first). It
// returns how many it changed.
func damageBranchKeys(b []byte) int {
	ps := os.Getpagesize()
	firstLast := func(id int) (first, last []byte) {
		pg := boltPage{off: id * ps, flags: binary.LittleEndian.Uint16(b[id*ps+8:]), count: int(binary.LittleEndian.Uint16(b[id*ps+10:]))}
		es := boltPageElems(b, pg)
		if len(es) == 0 {
			return nil, nil
		}
		f, l := es[0], es[len(es)-1]
		return b[f.keyOff : f.keyOff+f.keyLen], b[l.keyOff : l.keyOff+l.keyLen]
	}
	n := 0
	for _, pg := range boltPages(b) {
		if pg.flags != 0x01 || pg.count < 2 {
			continue
		}
		es := boltPageElems(b, pg)
		if len(es) < 2 {
			continue
		}
		child := func(e boltElem) int { return int(binary.LittleEndian.Uint64(b[e.hdrOff+8:])) }
		if child(es[0])*ps >= len(b) || child(es[1])*ps >= len(b) {
			continue
		}
		_, prevLast := firstLast(child(es[0]))
		first, _ := firstLast(child(es[1]))
		key := b[es[1].keyOff : es[1].keyOff+es[1].keyLen]
		if prevLast == nil || !bytes.Equal(key, first) || len(key) == 0 || key[len(key)-1] == 0 {
			continue
		}
		key[len(key)-1]--
		if bytes.Compare(key, prevLast) <= 0 {
			key[len(key)-1]++
			continue
		}
		n++
	}
	return n
}

// TestWritesOnADamagedBranchKeyAreRefusedOrKept: on a file whose branch
// keys are damaged that way, a read-write Open either refuses it
// (ErrCorrupt; a read-only Open still reads every checkpoint) or every
// Put it acknowledges reads back after a GC and a reopen.
func TestWritesOnADamagedBranchKeyAreRefusedOrKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 400
	path, ids, b := closedChain(t, n)
	if damageBranchKeys(b) == 0 {
		t.Fatal("no branch key to damage")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read-write Open = %v, want nil or ErrCorrupt", err)
		}
		r, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only Open of the damaged file: %v", err)
		}
		defer r.Close()
		got := 0
		for _, err := range r.List(ctx, ListOptions{ThreadID: "t"}) {
			if err != nil {
				t.Fatalf("read-only List: %v", err)
			}
			got++
		}
		if got != n {
			t.Fatalf("read-only List gave %d checkpoints, want %d", got, n)
		}
		return
	}
	cfg := Config{ThreadID: "t", CheckpointID: idString(ids[n-1])}
	var acked []string
	for range 40 {
		next, err := s.Put(ctx, cfg, Checkpoint{}, nil, nil)
		if err != nil {
			break
		}
		cfg = next
		acked = append(acked, next.CheckpointID)
	}
	_, gcErr := s.GC(ctx, Policy{KeepLast: len(acked) + 1})
	closeErr := s.Close()
	t.Logf("acknowledged %d Puts; GC: %v; Close: %v", len(acked), gcErr, closeErr)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("read-write Open after %d acknowledged Puts on a file it opened: %v", len(acked), err)
	}
	defer s.Close()
	for _, id := range acked {
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id}); err != nil {
			t.Errorf("acknowledged checkpoint %s: %v", id, err)
		}
	}
}
