package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tornSave is one Save of the torn-write tests: its checkpoint and the
// value it wrote.
type tornSave struct {
	id  string
	val string
}

// saveSized saves checkpoint i of thread "t" with a value of size bytes.
func saveSized(t *testing.T, s *Store, i, size int) tornSave {
	t.Helper()
	val := strings.Repeat(string(rune('a'+i%26)), size)
	id, err := s.Save(context.Background(), "t", map[string]any{"i": i, "v": val}, Metadata{"i": i})
	if err != nil {
		t.Fatal(err)
	}
	return tornSave{id, val}
}

// TestLogTornOverAnEarlierPassKeepsEveryWrite: the log starts again from
// its first record once bbolt holds all of it, so the bytes of an earlier
// pass lie where the new pass writes. A power cut during the write of the
// new pass's last record leaves each of its 512-byte sectors either
// written or as it was: the earlier pass's bytes (a stale record at the
// same offset, or part of one). Whatever sectors reached the disk (in
// order, in reverse, one alone; CKPT_SWEEP_TORN=all: every subset), Open
// must keep every acknowledged Save exactly, and the torn
// one (never acknowledged: its proof was not written) whole or not at
// all; never a stale record replayed as current.
func TestLogTornOverAnEarlierPassKeepsEveryWrite(t *testing.T) {
	t.Parallel()
	if raceBuild {
		// One goroutine reading files back: -race adds nothing but time
		// (30-100 s a run on a loaded 2-core machine).
		t.Skip("a sweep of damaged files, run without -race")
	}
	for _, tc := range []struct {
		name          string
		first, second []int // value sizes of each pass's Saves
	}{
		{"first of its pass", []int{9000, 7000, 5000, 3000}, []int{2500}},
		{"third of its pass", []int{9000, 7000, 5000, 3000}, []int{1200, 6000, 2500}},
		{"same sizes", []int{2500, 2500, 2500, 2500}, []int{2500, 2500, 2500}},
	} {
		if os.Getenv("CKPT_SWEEP_TORN") != "all" && tc.name != "third of its pass" {
			continue // CKPT_SWEEP_TORN=all: every case
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTornOverEarlierPass(t, tc.first, tc.second)
		})
	}
}

func testTornOverEarlierPass(t *testing.T, first, second []int) {
	ctx := context.Background()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	var saves []tornSave
	for _, size := range first {
		saves = append(saves, saveSized(t, s, len(saves), size))
	}
	applyNow(t, s) // bbolt holds the first pass: the next record starts again
	for _, size := range second[:len(second)-1] {
		saves = append(saves, saveSized(t, s, len(saves), size))
	}
	before, err := os.ReadFile(s.path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	saves = append(saves, saveSized(t, s, len(saves), second[len(second)-1]))
	db, after := readBoth(t, crashCopy(t, s))
	spans := logSpans(t, crashCopy(t, s)+walSuffix)
	last := spans[len(spans)-1]
	if len(spans) != len(second) {
		t.Fatalf("%d records in the new pass, want %d", len(spans), len(second))
	}
	if bytes.Equal(before[last.Off:last.End], after[last.Off:last.End]) {
		t.Fatal("the new record overwrote nothing of the earlier pass")
	}
	const sector = 512
	lo, hi := last.Off/sector, (last.End+sector-1)/sector
	n := int(hi - lo)
	if n > 12 {
		t.Fatalf("the torn record spans %d sectors: too many subsets", n)
	}
	// The sectors written in order (each prefix), in reverse (each
	// suffix), and each alone; CKPT_SWEEP_TORN=all every subset.
	masks := map[int]bool{}
	for k := range n + 1 {
		masks[1<<k-1] = true
		masks[(1<<n-1)&^(1<<k-1)] = true
		if k < n {
			masks[1<<k] = true
		}
	}
	if os.Getenv("CKPT_SWEEP_TORN") == "all" {
		for mask := range 1 << n {
			masks[mask] = true
		}
	}
	dir := t.TempDir()
	opened, refused := 0, 0
	for mask := range masks {
		img := make([]byte, len(after))
		copy(img, before) // the earlier pass's bytes; past them, the growth's zeros
		copy(img[:last.Off], after[:last.Off])
		for k := range n {
			if mask&(1<<k) == 0 {
				continue
			}
			a, b := max(last.Off, (lo+int64(k))*sector), min(last.End, (lo+int64(k)+1)*sector)
			copy(img[a:b], after[a:b])
		}
		path := filepath.Join(dir, fmt.Sprintf("m%d.db", mask))
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+walSuffix, img, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{})
		if err != nil {
			// A power cut leaves the log so: a refusal is a false one.
			refused++
			t.Errorf("sectors written %0*b: Open = %v, want every acknowledged Save", n, mask, err)
			continue
		}
		opened++
		for i, sv := range saves {
			snap, err := r.Load(ctx, "t", sv.id)
			if i == len(saves)-1 && errors.Is(err, ErrNotFound) {
				continue // the torn Save, never acknowledged: gone is right
			}
			if err != nil {
				t.Errorf("sectors written %0*b: checkpoint %d: %v", n, mask, i, err)
				continue
			}
			var v string
			var k int
			if err := snap.Decode("v", &v); err != nil || v != sv.val {
				t.Errorf("sectors written %0*b: checkpoint %d reads %d bytes (%v), want %d", n, mask, i, len(v), err, len(sv.val))
			}
			if err := snap.Decode("i", &k); err != nil || k != i {
				t.Errorf("sectors written %0*b: checkpoint %d reads i=%d (%v)", n, mask, i, k, err)
			}
		}
		if h, err := r.Latest(ctx, "t"); err != nil || (h.CheckpointID != saves[len(saves)-1].id && h.CheckpointID != saves[len(saves)-2].id) {
			t.Errorf("sectors written %0*b: Latest = %v, %v", n, mask, h, err)
		}
		if rep, err := r.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("sectors written %0*b: Verify = %+v, %v", n, mask, rep, err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("sectors written %0*b: Close: %v", n, mask, err)
		}
		_ = os.Remove(path)
		_ = os.Remove(path + walSuffix)
	}
	t.Logf("%d sectors, %d images opened, %d refused", n, opened, refused)
}
