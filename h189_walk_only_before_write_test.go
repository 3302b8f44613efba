package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// h189DamageFreelist overwrites the id in the header of the freelist page
// the newest meta page names: damage only bbolt's next commit meets (a
// read never reads the freelist page) and the page walk reports
// (internal/engine/precheck.go).
func h189DamageFreelist(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(b[16+8:]))
	meta := func(i int) (txid, freelist uint64) {
		m := b[i*ps+16:]
		return binary.LittleEndian.Uint64(m[48:]), binary.LittleEndian.Uint64(m[32:])
	}
	tx0, fl := meta(0)
	if tx1, fl1 := meta(1); tx1 > tx0 {
		fl = fl1
	}
	if fl == ^uint64(0) || int(fl+1)*ps > len(b) {
		t.Fatalf("no freelist page to damage (%d)", fl)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var id [8]byte
	binary.LittleEndian.PutUint64(id[:], fl^0x5a5a)
	if _, err := f.WriteAt(id[:], int64(fl)*int64(ps)); err != nil {
		t.Fatal(err)
	}
}

// TestH189MaintWalksTheFileOnlyBeforeAWrite: GC walked the whole file
// (maint_check.go) before planning, so a GC with nothing to remove, the
// call a service makes every minute, paid the walk: 17x the CPU of the
// call on W3's pruned store (bench/RESULTS.md, helper-189). A call that
// writes nothing frees no page and needs no walk: it returns nil over
// damage only a write meets; one that removes still refuses it before
// its first write, and removes nothing.
func TestH189MaintWalksTheFileOnlyBeforeAWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for th := range 3 {
		for i := range 4 {
			if _, err := s.Save(ctx, fmt.Sprint("t", th), map[string]any{"i": i}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	h189DamageFreelist(t, path)

	st, err := s.GC(ctx, Policy{KeepLast: 4})
	if err != nil || st != (GCStats{}) {
		t.Fatalf("GC with nothing to remove: %+v, %v; want nothing removed and nil", st, err)
	}
	if err := s.Prune(ctx, []string{"t0"}, PruneKeepLatest); err != nil {
		// KeepLatest keeps one per namespace: t0 has 4, so Prune writes.
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Prune over a damaged freelist page: %v, want ErrCorrupt", err)
		}
	} else {
		t.Fatal("Prune that removes returned nil over a damaged freelist page")
	}
	st, err = s.GC(ctx, Policy{KeepLast: 1})
	if !errors.Is(err, ErrCorrupt) || st.Checkpoints != 0 {
		t.Fatalf("GC that removes over a damaged freelist page: %+v, %v; want ErrCorrupt and nothing removed", st, err)
	}
	for th := range 3 {
		n := 0
		for _, err := range s.List(ctx, ListOptions{ThreadID: fmt.Sprint("t", th)}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 4 {
			t.Fatalf("thread t%d holds %d checkpoints after the refused calls, want 4", th, n)
		}
	}
}
