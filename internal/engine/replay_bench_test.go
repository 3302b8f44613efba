package engine

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkReplayBatch is the applier's work on one batch of 20 groups of
// 16 W1-shaped steps (BenchmarkOverlayGroups' shape): the replay into one
// bbolt write transaction and its commit (without fsync: the code, not
// the disk). Each op replays new steps, so the file grows as in W1.
func BenchmarkReplayBatch(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	threads := make([][]byte, 16)
	for i := range threads {
		threads[i] = fmt.Appendf(nil, "thread-%04d", i)
	}
	subs := [][]byte{[]byte("bl"), []byte("cp"), []byte("md"), []byte("or"), []byte("sg"), []byte("wr")}
	val := make([]byte, 300)
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	gen, step := uint64(0), uint64(0)
	batch := func() []*Group {
		groups := make([]*Group, 20)
		for gi := range groups {
			gen++
			g := &Group{Gen: gen}
			for _, th := range threads {
				step++
				key := binary.BigEndian.AppendUint64(nil, step<<16)
				for i, sub := range subs {
					p := Path{[]byte("threads"), th, sub}
					g.Muts = append(g.Muts, Mutation{Op: MutPut, Path: p, Key: key, Val: val[:50*(i+1)]})
					if i >= 3 {
						g.Muts = append(g.Muts, Mutation{Op: MutPut, Path: p, Key: append(key[:8:8], byte(i)), Val: val[:40]})
					}
				}
			}
			groups[gi] = g
		}
		return groups
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		groups := batch()
		b.StartTimer()
		if err := db.Update(func(tx *bolt.Tx) error { return mark.Replay(NewBoltView(tx), groups) }); err != nil {
			b.Fatal(err)
		}
	}
}
