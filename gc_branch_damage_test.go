package ckpt

// A damaged key in a branch page of a thread's buckets misroutes every
// lookup of the keys below it (bbolt's search trusts the branch keys)
// while a walk of the bucket, which follows the pages, still yields
// them. Retention plans from a walk of the history order and drops each
// planned checkpoint by lookups: a checkpoint whose record the lookup
// did not find was passed over as "already gone", and GC returned nil
// having dropped fewer checkpoints than its policy asked (nothing lost,
// the damage unreported).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestGCOnDamagedBranchKeysDropsAllOrReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n, keep = 300, 2
	path, ids, b := closedChain(t, n)
	// A key of a branch page of cp/ or md/ (checkpointKey) gets its first
	// id byte after the time changed: it sorts after the keys of its child
	// page, whose lookups then go to the child before it. (Up to 12 such
	// keys, one edit each; the log on, as the leftover was seen: without
	// it nearly every such GC dropped all it was asked to.)
	type edit struct {
		what string
		off  int
	}
	var edits []edit
	isID := map[[idLen]byte]int{}
	for i, id := range ids {
		isID[id] = i
	}
	for _, pg := range boltPages(b) {
		if pg.flags != 0x01 {
			continue
		}
		for i, e := range boltElems(b, pg) {
			if i == 0 {
				continue // the first key of a branch only bounds from below
			}
			k := b[e.keyOff : e.keyOff+e.keyLen]
			var id [idLen]byte
			at := -1
			if len(k) == 2+idLen && bytes.HasPrefix(k, nsKey("")) {
				at = 2 // cp/, md/: what dropping a checkpoint looks up
			}
			if at < 0 {
				continue
			}
			copy(id[:], k[at:])
			if _, ok := isID[id]; !ok {
				continue
			}
			// The byte after the ULID's time: its random part, which
			// counts up within a millisecond.
			edits = append(edits, edit{fmt.Sprintf("page %d key %d (%x)", pg.off/os.Getpagesize(), i, k), e.keyOff + at + 6})
		}
	}
	if len(edits) == 0 {
		t.Fatal("no branch key of the thread found")
	}
	if len(edits) > 12 {
		step := len(edits) / 12
		var some []edit
		for i := 0; i < len(edits) && len(some) < 12; i += step {
			some = append(some, edits[i])
		}
		edits = some
	}
	for _, ed := range edits {
		c := bytes.Clone(b)
		c[ed.off] = 0xff
		p := path + ".damaged"
		for _, f := range []string{p, p + "-wal"} {
			_ = os.Remove(f)
		}
		if err := os.WriteFile(p, c, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: Open = %v, want nil or ErrCorrupt", ed.what, err)
			}
			continue
		}
		endsWithin(t, "GC keeping the last checkpoints", func() {
			st, err := s.GC(ctx, Policy{KeepLast: keep})
			switch {
			case err != nil && !errors.Is(err, ErrCorrupt):
				t.Errorf("%s: GC = %v, want nil or ErrCorrupt", ed.what, err)
			case err == nil && st.Checkpoints != n-keep:
				t.Errorf("%s: GC dropped %d checkpoints and returned nil, want %d or ErrCorrupt", ed.what, st.Checkpoints, n-keep)
			}
		})
		if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Close = %v", ed.what, err)
		}
	}
}
