package engine

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkOverlayGroups is the commit loop's overlay work for 16
// writers on W1-shaped steps (issue 18), without the log or the store: per
// group, 16 ops of 9 puts each into a scratch tree on top of the shared
// tree, the merge into the shared tree and a publish; when 20 groups are
// unpruned (about the applier's 1 MB batch), a prune of the oldest 15 (the
// loop goes on while the applier applies). One op is one group (16 steps).
func BenchmarkOverlayGroups(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	base := NewBoltView(tx)
	const writers, applyEvery = 16, 20
	threads := make([][]byte, writers)
	for i := range threads {
		threads[i] = fmt.Appendf(nil, "thread-%04d", i)
	}
	subs := [][]byte{[]byte("bl"), []byte("cp"), []byte("md"), []byte("or"), []byte("sg"), []byte("wr")}
	val := make([]byte, 300)
	snaps := NewSnapshots(Mark{})
	shared := NewTree()
	var pending []*Group
	gen, step := uint64(0), uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		{
			gen++
			ow := NewTreeWriter(NewTree(), shared.LoopView(base), gen)
			for _, th := range threads {
				step++
				key := binary.BigEndian.AppendUint64(make([]byte, 0, 24), step<<16)
				for i, sub := range subs {
					p := Path{[]byte("threads"), th, sub}
					if err := ow.Put(p, key, val[:50*(i+1)]); err != nil {
						b.Fatal(err)
					}
					if i >= 3 {
						k := append(key[:8:8], byte(i))
						if err := ow.Put(p, k, val[:40]); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			g := &Group{Gen: gen, Muts: ow.Muts()}
			locked := snaps.Change(false)
			g.Keys = MergeOverlay(shared, ow.Scratch())
			snaps.Publish(shared, gen, 0, locked)
			pending = append(pending, g)
			if len(pending) == applyEvery {
				// The applier holds all but the last few groups: the
				// loop went on merging while it applied.
				n := applyEvery - applyEvery/4
				applied := pending[n-1].Gen
				snaps.Change(true)
				shared = PruneOverlay(shared, pending[:n], applied)
				snaps.Publish(shared, gen, applied, false)
				pending = append(pending[:0], pending[n:]...)
			}
		}
	}
}
