package ckpt

// H231: a damaged root page id of a nested bucket (the bucket's header in
// a leaf of its parent) that leads into a page cycle costs that bucket's
// thread only. 7d9a056's read-only Open charged the cycle to the bucket
// of the leaf holding the header (markCycle: the bucket of the page that
// names the page above it), so a thread bucket's damaged header made
// every thread under threads/ read ErrCorrupt; and one naming a page of
// the parent's own tree refused the file. Never wrong data, but all lost.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// h231RootSpot is a nested bucket's root page id in its parent's leaf.
type h231RootSpot struct {
	leaf, at int
	elem     int    // the element's index in the leaf
	owner    string // the bucket (bwJoin) whose header it is
	parent   string // the leaf's bucket
}

// h231RootSpots lists the non-inline buckets' root ids in the leaves of
// cw whose bucket is one of parents (with no parents, in every leaf).
func h231RootSpots(clean []byte, cw *bwFile, parents ...string) []h231RootSpot {
	var out []h231RootSpot
	for _, id := range slices.Sorted(maps.Keys(cw.pages)) {
		d := cw.pages[id]
		if d.branch || (len(parents) > 0 && !slices.Contains(parents, d.owner)) {
			continue
		}
		n := int(binary.LittleEndian.Uint16(clean[id*cw.ps+10:]))
		for i := range n {
			e := id*cw.ps + bwHeader + i*bwElem
			pos := int(binary.LittleEndian.Uint32(clean[e+4:]))
			ksize := int(binary.LittleEndian.Uint32(clean[e+8:]))
			if binary.LittleEndian.Uint32(clean[e:])&bwBucketLeaf == 0 {
				continue
			}
			if binary.LittleEndian.Uint64(clean[e+pos+ksize:]) == 0 {
				continue // inline
			}
			name := bwJoin([]string{string(clean[e+pos : e+pos+ksize])})
			owner := name
			if d.owner != "" {
				owner = d.owner + "/" + name
			}
			out = append(out, h231RootSpot{leaf: id, at: e + pos + ksize, elem: i, owner: owner, parent: d.owner})
		}
	}
	return out
}

// TestH231DamagedNestedRootIDCostsItsThreadOnly: in a store of 150
// threads (the threads bucket with a branch page; th000, th050 and th100
// with 120 checkpoints each, their buckets' own buckets not inline), a
// thread bucket's root id in a leaf of threads/, or one of th000's
// buckets' root ids in th000's leaf, damaged to name a page above it (of
// the top buckets' tree, of threads/, of th000's own tree): a page cycle.
// A read-only Open keeps the file; every other thread reads exact, the
// damaged one exact or ErrCorrupt naming it, and every read returns.
func TestH231DamagedNestedRootIDCostsItsThreadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	clean, threads, want := h231ManyThreadsFile(t, filepath.Join(dir, "base.db"))
	cw := bwWalk(clean)
	tops := bwJoin([]string{string(bucketThreads)})
	th000 := bwJoin([]string{string(bucketThreads), "th000"})
	var spots []h231RootSpot
	for _, sp := range h231RootSpots(clean, cw, tops, th000) {
		// Of the thread buckets: the first, the last and a big one (each
		// leaf of threads/ holds one of them); all of th000's.
		if sp.parent == th000 || slices.ContainsFunc([]string{"th000", "th001", "th050", "th149"}, func(th string) bool {
			return sp.owner == bwJoin([]string{string(bucketThreads), th})
		}) {
			spots = append(spots, sp)
		}
	}
	if len(spots) < 4 {
		t.Fatalf("%d damaged spots, want at least 4 (the layout changed?)", len(spots))
	}
	path := filepath.Join(dir, "run.db")
	cycles := 0
	// Under -race every 4th cycle file (raceSample: one damaged copy
	// opened read-only and read at a time, no applier beside it; the 28
	// took 14-26 s there, 2.5 s without); CI's plain command reads every
	// one.
	keep, k := raceSample(t, 4), -1
	for _, sp := range spots {
		for _, pid := range slices.Sorted(maps.Keys(cw.pages)) {
			p := cw.pages[pid]
			if p.owner != "" && p.owner != sp.parent && !strings.HasPrefix(sp.parent, p.owner+"/") {
				continue // not above the damaged bucket
			}
			damaged := bytes.Clone(clean)
			binary.LittleEndian.PutUint64(damaged[sp.at:], uint64(pid))
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if !h190Cycle(t, path) {
				continue // a page of the parent's tree off the path: reached twice, no cycle
			}
			if k++; !keep(k) {
				continue
			}
			cycles++
			name := fmt.Sprintf("the root id of %s (in page %d) names page %d (%s, branch %v)", sp.owner, sp.leaf, pid, p.owner, p.branch)
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Errorf("%s: read-only Open: %v, want the file kept", name, err)
				continue
			}
			lost := 0
			for _, th := range threads {
				mine := sp.owner == bwJoin([]string{string(bucketThreads), th}) || strings.HasPrefix(sp.owner, bwJoin([]string{string(bucketThreads), th})+"/")
				for i, id := range want[th] {
					err := h229Bounded(t, name+" Load", func() error { return h231LoadExact(ctx, ro, th, id, fmt.Sprint(th, "/", i), false) })
					switch {
					case err == nil:
					case !mine:
						lost++
						if lost <= 3 {
							t.Errorf("%s: %s's checkpoint %d (a thread the damage is not in): %v", name, th, i, err)
						}
					case !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), th):
						t.Errorf("%s: %s's checkpoint %d: %v, want its data or ErrCorrupt naming %s", name, th, i, err, th)
					}
					if err != nil {
						break
					}
				}
			}
			if lost > 3 {
				t.Errorf("%s: %d threads the damage is not in read an error", name, lost)
			}
			h229ReadAll(ctx, t, name, ro, nil, sp.owner)
			_ = ro.Close()
		}
	}
	if cycles == 0 {
		t.Fatal("no damaged root id made a page cycle")
	}
	t.Logf("%d spots, %d cycle files", len(spots), cycles)
}
