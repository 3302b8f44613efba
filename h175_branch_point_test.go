package ckpt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// TestH175PointReadsOverADamagedBranchKey: the point reads (GetTuple by
// id with its pending writes, ResolveID) and the head reads of a thread
// whose cp/, md/, wr/ or ids/ bucket has a branch key raised (to the
// middle key of its child: a lookup of the child's first half goes to
// the child before) or lowered (to the middle key of the child before: a
// lookup of that child's second half goes to the child after), on a
// read-only handle (a read-write Open refuses the file: its page check
// compares each branch key with its child's first key). Each read gives
// what the clean file gives, or ErrCorrupt; never ErrNotFound for a
// checkpoint stored.
func TestH175PointReadsOverADamagedBranchKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean := filepath.Join(t.TempDir(), "clean.db")
	s, err := ckpt.Open(clean, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if err := h175Put(ctx, s, "p0", "", 400, 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	keys, _ := h175Keys(t, clean)
	read := func(s *ckpt.Store) map[string]h164Result {
		out := map[string]h164Result{}
		for _, k := range keys {
			p := strings.Split(k, "\x00")
			tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: p[0], CheckpointNS: p[1], CheckpointID: p[2]})
			r := h164Result{err: err}
			if err == nil {
				r.items = []string{strings.Join(spec14Parts(tp), "|")}
			}
			out["GetTuple "+k] = r
			id, err := s.ResolveID(ctx, p[0], p[1], p[2][:12])
			out["ResolveID "+k] = h164Result{items: []string{id}, err: err}
			if err != nil {
				out["ResolveID "+k] = h164Result{err: err}
			}
		}
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "p0"})
		r := h164Result{err: err}
		if err == nil {
			r.items = []string{strings.Join(spec14Parts(tp), "|")}
		}
		out["GetTuple latest"] = r
		return out
	}
	want := read(mustOpenRO(t, clean))
	// One damaged copy opened and read at a time: under -race every 4th
	// damaged key (RaceSampleForTest), CI's plain command damages every
	// one.
	keep, pos := ckpt.RaceSampleForTest(t, 4), -1
	cases, refusedCases := 0, 0
	for _, sub := range []string{"cp", "md", "wr", "ids"} {
		tr := h170Root(t, clean, func(tx *bolt.Tx) *bolt.Bucket {
			return tx.Bucket([]byte("threads")).Bucket([]byte("p0")).Bucket([]byte(sub))
		})
		orig := slices.Clone(tr.file)
		for i := 1; i < tr.children(); i++ {
			for _, raise := range []bool{true, false} {
				copy(tr.file, orig)
				bk := tr.branchKey(i)
				var to []byte
				if raise {
					ks := tr.leafKeys(i)
					to = ks[len(ks)/2]
				} else {
					ks := tr.leafKeys(i - 1)
					to = ks[len(ks)/2]
				}
				if len(to) != len(bk) {
					continue // the key's length is the element's
				}
				if pos++; !keep(pos) {
					continue
				}
				copy(bk, to)
				what := fmt.Sprintf("p0 %s/ branch key %d raised %v", sub, i, raise)
				s := mustOpenRO(t, tr.write(t))
				cases++
				refused, missing := h164Compare(t, what, want, read(s))
				if missing > 0 {
					t.Errorf("%s: %d reads ErrNotFound for a checkpoint stored", what, missing)
				}
				if refused > 0 {
					refusedCases++
					rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
					if err == nil && rep.OK() {
						t.Errorf("%s: reads refused, Verify reports nothing", what)
					}
				}
			}
		}
	}
	t.Logf("%d damaged branch keys: %d with reads refused (ErrCorrupt), the rest read as clean", cases, refusedCases)
	if refusedCases == 0 {
		t.Fatal("no damaged branch key changed a read: the test checks nothing")
	}
}
