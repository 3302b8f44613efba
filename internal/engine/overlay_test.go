package engine

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"
)

// TestOverlayMatchesBolt is a property test of the read overlay: random
// groups of changes go through a scratch tree on top of the shared tree
// and bbolt (as the commit loop sends them), some ops are taken back half
// way (as a failing op is), groups are applied to bbolt and pruned at
// random points (as the applier and the commit loop do), and every read is
// compared with a plain bbolt file that took the same changes directly.
//
// Readers run beside all of it through Snapshots.Begin (its bbolt begin,
// then the published overlay): one reader is paused between
// the two steps and in the middle of its read at points rapid chooses
// (every interleaving with applies and prunes), another loops freely. Each
// compares the whole state it sees with the model's state after the
// snapshot's group: no torn or mixed view.
func TestOverlayMatchesBolt(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		open := func(name string) *bolt.DB {
			// Mapped large, as Open does: a paused reader must not hold up
			// a commit that grows the file.
			db, err := bolt.Open(filepath.Join(dir, name), 0o600, &bolt.Options{NoSync: true, InitialMmapSize: 16 << 20})
			if err != nil {
				rt.Fatal(err)
			}
			return db
		}
		sut, ref := open(fmt.Sprintf("sut-%p.db", rt)), open(fmt.Sprintf("ref-%p.db", rt))
		defer sut.Close()
		defer ref.Close()
		// The store's handle lock and bbolt's last-applied mark, as the
		// root package has them.
		var dbMu sync.RWMutex
		mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
		snaps, shared := NewSnapshots(mark), NewTree()
		var pending, unpruned []*Group
		var gen, applied, pruned uint64
		snaps.Publish(shared, gen, pruned, false)

		paths := []Path{
			{[]byte("a")}, {[]byte("a"), []byte("x")}, {[]byte("a"), []byte("y")},
			{[]byte("a"), []byte("x"), []byte("z")}, {[]byte("b")}, {[]byte("b"), []byte("x")},
		}
		keys := [][]byte{[]byte("k"), []byte("k1"), []byte("k10"), []byte("k2"), []byte("m"), {0xff}}
		genPath := rapid.SampledFrom(paths)
		genKey := rapid.SampledFrom(keys)

		// history[g] is the model's whole state after group g.
		var histMu sync.Mutex
		history := map[uint64]string{}
		record := func() {
			tx, err := ref.Begin(false)
			if err != nil {
				rt.Fatal(err)
			}
			defer tx.Rollback()
			d := dumpState(NewBoltView(tx), paths)
			histMu.Lock()
			history[gen] = d
			histMu.Unlock()
		}
		record()
		// verify compares a snapshot's whole state with the model's.
		verify := func(r Reader, snap *Snap) error {
			got := dumpState(r, paths)
			histMu.Lock()
			want, ok := history[snap.Gen()]
			histMu.Unlock()
			if !ok {
				return fmt.Errorf("snapshot of group %d, which the model never reached", snap.Gen())
			}
			if got != want {
				return fmt.Errorf("snapshot of group %d (pruned to %d) reads\n%s\nwant\n%s", snap.Gen(), snap.Pruned(), got, want)
			}
			return nil
		}

		// The free reader loops until the run ends.
		var readErr error
		var readErrOnce sync.Once
		stop, freeDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(freeDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx, snap, err := snaps.Begin(&dbMu, &sut, nil)
				if err == nil {
					err = verify(snap.View(tx), snap)
					snaps.End(tx)
				}
				if err != nil {
					readErrOnce.Do(func() { readErr = fmt.Errorf("free reader: %w", err) })
					return
				}
			}
		}()

		// The paused reader: phase 1 it waits between its bbolt begin and
		// its load of the overlay, phase 2 in the middle of its read (its
		// snapshot must stay the same while groups are applied and
		// pruned); each check step moves it on and waits until it pauses
		// again or ends.
		type pausedReader struct {
			phase  int
			resume chan struct{}
			paused chan error // nil: paused again; else how it ended
		}
		var pr *pausedReader
		startReader := func() {
			p := &pausedReader{phase: 1, resume: make(chan struct{}), paused: make(chan error, 1)}
			first := true
			go func() {
				tx, snap, err := snaps.Begin(&dbMu, &sut, func() {
					if first { // a retry goes on at once
						first = false
						p.paused <- nil
						<-p.resume
					}
				})
				if err != nil {
					p.paused <- err
					return
				}
				defer snaps.End(tx)
				r := snap.View(tx)
				if err := verify(r, snap); err != nil {
					p.paused <- err
					return
				}
				p.paused <- nil
				<-p.resume
				p.paused <- verify(r, snap)
			}()
			if err := <-p.paused; err != nil {
				rt.Fatal(err)
			}
			pr = p
		}
		// stepReader moves the paused reader on.
		stepReader := func() error {
			p := pr
			p.resume <- struct{}{}
			err := <-p.paused
			if err != nil || p.phase == 2 {
				pr = nil // it ended
			} else {
				p.phase++
			}
			if err != nil {
				return fmt.Errorf("paused reader, phase %d: %w", p.phase, err)
			}
			return nil
		}
		var halted bool
		halt := func() {
			if !halted {
				halted = true
				close(stop)
				<-freeDone
			}
		}
		defer func() { // also when a check fails half way
			for pr != nil {
				_ = stepReader()
			}
			halt()
		}()

		// change makes one random change through w.
		change := func(w Writer, label string) {
			p := genPath.Draw(rt, label+"path")
			var err error
			switch rapid.IntRange(0, 9).Draw(rt, label+"op") {
			case 0, 1, 2, 3:
				val := []byte(rapid.StringN(0, 3, -1).Draw(rt, label+"val"))
				err = w.Put(p, genKey.Draw(rt, label+"key"), val)
			case 4, 5:
				err = w.Del(p, genKey.Draw(rt, label+"key"))
			case 6:
				err = w.DropBucket(p)
			case 7, 8:
				_, err = w.NextSeq(p)
			default:
				err = w.RaiseSeq(p, uint64(rapid.IntRange(0, 5).Draw(rt, label+"seq")))
			}
			if err != nil {
				rt.Fatalf("%s: %v", label, err)
			}
		}

		// groupStep logs one group of ops; some ops are taken back.
		groupStep := func() {
			tx, err := sut.Begin(false)
			if err != nil {
				rt.Fatal(err)
			}
			defer tx.Rollback() // also when rapid ends the run early
			sharedView := shared.LoopView(NewBoltView(tx))
			ow := NewTreeWriter(NewTree(), sharedView, gen+1)
			for op := range rapid.IntRange(1, 3).Draw(rt, "ops") {
				u, m := ow.Mark()
				n := rapid.IntRange(1, 3).Draw(rt, "changes")
				// The op's changes, drawn once and made on both sides.
				var rec recordingWriter
				for i := range n {
					change(&rec, fmt.Sprintf("op%d.%d.", op, i))
				}
				for _, c := range rec.changes {
					if err := c(ow); err != nil {
						rt.Fatal(err)
					}
				}
				if rapid.IntRange(0, 4).Draw(rt, "fail") == 0 {
					ow.Rollback(u, m)
					continue
				}
				if err := ref.Update(func(tx *bolt.Tx) error {
					bv := NewBoltView(tx)
					for _, c := range rec.changes {
						if err := c(bv); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					rt.Fatal(err)
				}
			}
			if len(ow.Muts()) == 0 {
				return
			}
			gen++
			g := &Group{Gen: gen, Muts: ow.Muts()}
			// As the commit loop: every change of shared between a Change
			// and a Publish.
			locked := snaps.Change(false)
			g.Keys = MergeOverlay(shared, ow.Scratch())
			record()
			snaps.Publish(shared, gen, pruned, locked)
			pending = append(pending, g)
			unpruned = append(unpruned, g)
		}

		applyStep := func() {
			if len(pending) == 0 {
				return
			}
			n := rapid.IntRange(1, len(pending)).Draw(rt, "apply")
			if err := sut.Update(func(tx *bolt.Tx) error { return mark.Replay(NewBoltView(tx), pending[:n]) }); err != nil {
				rt.Fatal(err)
			}
			applied = pending[n-1].Gen
			pending = pending[n:]
			// The commit loop prunes later than the applier applies: reads
			// in between see both.
			if rapid.Bool().Draw(rt, "prune") {
				k := 0
				for k < len(unpruned) && unpruned[k].Gen <= applied {
					k++
				}
				snaps.Change(true)
				shared = PruneOverlay(shared, unpruned[:k], applied)
				pruned = applied
				snaps.Publish(shared, gen, pruned, false)
				unpruned = unpruned[k:]
			}
		}

		checkStep := func() {
			stx, err := sut.Begin(false)
			if err != nil {
				rt.Fatal(err)
			}
			defer stx.Rollback()
			rtx, err := ref.Begin(false)
			if err != nil {
				rt.Fatal(err)
			}
			defer rtx.Rollback()
			got := NewView(shared, NewBoltView(stx))
			want := NewBoltView(rtx)
			if mark.Applied(NewBoltView(stx)) > gen {
				rt.Fatal("bbolt holds a group the overlay lacks")
			}
			for range 8 {
				p := genPath.Draw(rt, "rpath")
				k := genKey.Draw(rt, "rkey")
				if g, w := got.Get(p, k), want.Get(p, k); !bytes.Equal(g, w) || (g == nil) != (w == nil) {
					rt.Fatalf("get(%q, %q) = %q (nil %v), want %q (nil %v)", p, k, g, g == nil, w, w == nil)
				}
				if g, w := got.Has(p, k), want.Has(p, k); g != w {
					rt.Fatalf("has(%q, %q) = %v, want %v", p, k, g, w)
				}
				if g, w := got.Exists(p), want.Exists(p); g != w {
					rt.Fatalf("exists(%q) = %v, want %v", p, g, w)
				}
				if g, w := got.Sequence(p), want.Sequence(p); g != w {
					rt.Fatalf("sequence(%q) = %d, want %d", p, g, w)
				}
				prefix := []byte(rapid.SampledFrom([]string{"", "k", "k1", "m", "z"}).Draw(rt, "prefix"))
				var start []byte
				if rapid.Bool().Draw(rt, "hasStart") {
					start = genKey.Draw(rt, "start")
				}
				reverse := rapid.Bool().Draw(rt, "reverse")
				limit := rapid.IntRange(1, 8).Draw(rt, "limit")
				if g, w := scanAll(got, p, prefix, start, reverse, limit), scanAll(want, p, prefix, start, reverse, limit); !slices.Equal(g, w) {
					rt.Fatalf("scan(%q, prefix %q, start %q, reverse %v, limit %d) = %q, want %q", p, prefix, start, reverse, limit, g, w)
				}
				var after []byte
				if rapid.Bool().Draw(rt, "hasAfter") {
					after = []byte(rapid.SampledFrom([]string{"a", "x", "y", "w"}).Draw(rt, "after"))
				}
				parent := p // nested buckets of p (the root's are not listed by the store)
				if g, w := bucketNames(got, parent, after), bucketNames(want, parent, after); !slices.Equal(g, w) {
					rt.Fatalf("buckets(%q, after %q) = %q, want %q", parent, after, g, w)
				}
			}
		}

		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "step") {
			case 0, 1:
				groupStep()
			case 2:
				applyStep()
			default:
				// The paused reader moves at check steps: no draw of its
				// own, so the saved failure files still replay.
				if pr == nil {
					startReader()
				} else if err := stepReader(); err != nil {
					rt.Fatal(err)
				}
				checkStep()
			}
		}
		checkStep()
		for pr != nil {
			if err := stepReader(); err != nil {
				rt.Fatal(err)
			}
		}
		halt()
		if readErr != nil {
			rt.Fatal(readErr)
		}
	})
}

// dumpState is everything r holds under paths, as text.
func dumpState(r Reader, paths []Path) string {
	var b strings.Builder
	for _, p := range paths {
		if !r.Exists(p) {
			fmt.Fprintf(&b, "%q: none\n", p)
			continue
		}
		fmt.Fprintf(&b, "%q: seq %d, %q, buckets %q\n", p, r.Sequence(p), scanAll(r, p, nil, nil, false, 1<<30), bucketNames(r, p, nil))
	}
	return b.String()
}

// recordingWriter records changes to make them on two writers alike; its
// reads see nothing, which is all change needs.
type recordingWriter struct {
	Reader
	changes []func(w Writer) error
}

func (r *recordingWriter) Put(p Path, k, v []byte) error {
	r.changes = append(r.changes, func(w Writer) error { return w.Put(p, k, v) })
	return nil
}

func (r *recordingWriter) Del(p Path, k []byte) error {
	r.changes = append(r.changes, func(w Writer) error { return w.Del(p, k) })
	return nil
}

func (r *recordingWriter) DropBucket(p Path) error {
	r.changes = append(r.changes, func(w Writer) error { return w.DropBucket(p) })
	return nil
}

func (r *recordingWriter) NextSeq(p Path) (uint64, error) {
	r.changes = append(r.changes, func(w Writer) error { _, err := w.NextSeq(p); return err })
	return 0, nil
}

func (r *recordingWriter) RaiseSeq(p Path, n uint64) error {
	r.changes = append(r.changes, func(w Writer) error { return w.RaiseSeq(p, n) })
	return nil
}

func scanAll(r Reader, p Path, prefix, start []byte, reverse bool, limit int) []string {
	var out []string
	r.Scan(p, prefix, start, reverse, func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		if len(out) == limit {
			return ErrStop
		}
		return nil
	})
	return out
}

func bucketNames(r Reader, p Path, after []byte) []string {
	var out []string
	r.Buckets(p, after, func(name []byte) error {
		out = append(out, string(name))
		return nil
	})
	return out
}
