package ckpt

// The twenty-ninth session's hunt: GC over a damaged page never deletes a
// value a checkpoint it keeps names. GC's sweep deletes the values of a
// namespace that no remaining checkpoint names, which it learns from what
// it reads; a damaged key that hides a kept checkpoint from that read made
// GC delete its values and return nil (gc_prefix_end_test.go). Here one
// bit of a page of a thread's cp/, ids/, md/ or wr/, of the directory or
// of the global index is flipped under an open store, then GC runs with
// KeepLast. Whatever GC returns, every value the newest KeepLast
// checkpoints of each thread and namespace name must still be stored (the
// flip never touches a page of values: those are the oracle).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// h29Model is what the hunt's store holds: per thread and namespace, the
// checkpoints oldest first with the versions of x and y they name.
type h29Model map[[2]string][]h29Checkpoint

type h29Checkpoint struct {
	id     string
	vx, vy string
}

var (
	h29Threads = []string{"t0", "t1", "t2"}
	h29NSs     = []string{"", "a", "b"}
)

// h29Build writes the hunt's store at path: each thread and namespace a
// history where x changes every step and y every fifth, and pending
// writes on every third checkpoint.
func h29Build(t *testing.T, path string, rng *rand.Rand) h29Model {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	m := h29Model{}
	for _, th := range h29Threads {
		for _, ns := range h29NSs {
			n := 30 + rng.IntN(30)
			parent := ""
			for i := range n {
				vx, vy := fmt.Sprintf("x%06d", i), fmt.Sprintf("y%06d", i/5)
				nv := map[string]string{"x": vx}
				vals := map[string]any{"x": fmt.Sprint(th, ns, i)}
				if i%5 == 0 {
					nv["y"] = vy
					vals["y"] = fmt.Sprint("y", th, ns, i)
				}
				var writes []TaskWrites
				if i%3 == 0 {
					writes = []TaskWrites{{TaskID: "task" + strconv.Itoa(i), Writes: []Write{{Channel: "x", Value: i}}}}
				}
				cfg, err := s.PutFull(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: parent},
					Checkpoint{ChannelValues: vals, ChannelVersions: map[string]string{"x": vx, "y": vy}},
					Metadata{"step": i}, nv, writes)
				if err != nil {
					t.Fatal(err)
				}
				parent = cfg.CheckpointID
				m[[2]string{th, ns}] = append(m[[2]string{th, ns}], h29Checkpoint{cfg.CheckpointID, vx, vy})
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

// h29Target is a page the hunt may flip a bit of, and the keys it holds
// (their offsets in the file).
type h29Target struct {
	name string
	page int
	keys [][2]int // offset, length
}

// h29Targets lists the pages of the store at path that hold keys of a
// thread's cp/, ids/, md/ or wr/, of the directory and of the global
// index, leaving out every page that holds a key of a bucket of values
// (bl/, ls/): those are the hunt's oracle.
func h29Targets(t *testing.T, path string) []h29Target {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps := db.Info().PageSize
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := int(fi.Size())
	byPage := map[int]*h29Target{}
	values := map[int]bool{}
	note := func(name string, b *bolt.Bucket, isValues bool) {
		if b == nil {
			return
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			off := int(uintptr(unsafe.Pointer(&k[0]))) - int(db.Info().Data)
			if off < 0 || off >= size {
				continue // a key bbolt copied (an inline bucket's, in memory)
			}
			page := off / ps
			if isValues {
				values[page] = true
				continue
			}
			tg := byPage[page]
			if tg == nil {
				tg = &h29Target{name: name, page: page}
				byPage[page] = tg
			}
			tg.keys = append(tg.keys, [2]int{off, len(k)})
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		note("dir", tx.Bucket(bucketDir), false)
		note("index", tx.Bucket(bucketIndex), false)
		for _, th := range h29Threads {
			tb := tx.Bucket(bucketThreads).Bucket([]byte(th))
			if tb == nil {
				return fmt.Errorf("thread %s missing", th)
			}
			for _, sub := range [][]byte{bucketCheckpoints, bucketOrder, bucketMetadata, bucketWrites} {
				note(th+"/"+string(sub), tb.Bucket(sub), false)
			}
			note("", tb.Bucket(bucketBlobs), true)
			note("", tb.Bucket(bucketSegments), true)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []h29Target
	for page, tg := range byPage {
		if !values[page] {
			out = append(out, *tg)
		}
	}
	slices.SortFunc(out, func(a, b h29Target) int { return a.page - b.page })
	return out
}

// h29Check says which value of a checkpoint the policy keeps is no longer
// stored in the file at path.
func h29Check(path string, m h29Model, keep int) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open after GC: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, th := range h29Threads {
			bl := tx.Bucket(bucketThreads).Bucket([]byte(th)).Bucket(bucketBlobs)
			for _, ns := range h29NSs {
				cps := m[[2]string{th, ns}]
				kept := cps[max(0, len(cps)-keep):]
				// y's value was stored at the step its version began.
				for _, cp := range kept {
					for _, k := range [][]byte{blobKey(ns, "x", cp.vx), blobKey(ns, "y", cp.vy)} {
						if bl.Get(k) == nil {
							return fmt.Errorf("thread %s namespace %q: kept checkpoint %s lost its value %q", th, ns, cp.id, k)
						}
					}
				}
			}
		}
		return nil
	})
}

// TestH29GCOverDamageKeepsValues runs the hunt: CKPT_H29_CASES cases (8 in
// the suite) from CKPT_H29_SEED, each in a WAL and a NoWAL store.
func TestH29GCOverDamageKeepsValues(t *testing.T) {
	t.Parallel()
	cases, seed := 8, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("CKPT_H29_CASES")); err == nil {
		cases = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H29_SEED"), 10, 64); err == nil {
		seed = v
	}
	if testing.Short() {
		cases = min(cases, 2)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	m := h29Build(t, base, rand.New(rand.NewPCG(seed, 29)))
	clean, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	targets := h29Targets(t, base)
	if len(targets) < 10 {
		t.Fatalf("%d target pages, want 10 or more", len(targets))
	}
	ps := os.Getpagesize()
	if db, err := bolt.Open(base, 0o600, &bolt.Options{ReadOnly: true}); err == nil {
		ps = db.Info().PageSize
		_ = db.Close()
	}
	outcomes := map[string]int{}
	for c := range cases {
		cs := seed*1_000_003 + uint64(c)
		rng := rand.New(rand.NewPCG(cs, 2929))
		tg := targets[rng.IntN(len(targets))]
		var at int
		if rng.IntN(2) == 0 {
			k := tg.keys[rng.IntN(len(tg.keys))]
			at = k[0] + rng.IntN(k[1])
		} else {
			at = tg.page*ps + 16 + rng.IntN(ps-16)
		}
		damaged := bytes.Clone(clean)
		damaged[at] ^= 1 << rng.IntN(8)
		keep := 1 + rng.IntN(3)
		for _, mode := range bothLogModes {
			name := fmt.Sprintf("case %d (seed %d) %s: %s page %d byte %d keep %d", c, cs, mode.name, tg.name, tg.page, at, keep)
			path := filepath.Join(dir, fmt.Sprintf("c%d-%s.db", c, mode.name))
			if err := os.WriteFile(path, clean, 0o600); err != nil {
				t.Fatal(err)
			}
			s, _ := openThenDamageAnywhere(t, path, mode.opts, damaged)
			_, gcErr := s.GC(context.Background(), Policy{KeepLast: keep})
			cerr := s.Close()
			if gcErr != nil && !errors.Is(gcErr, ErrCorrupt) {
				t.Errorf("%s: GC = %v, want nil or ErrCorrupt", name, gcErr)
			}
			if cerr != nil && !errors.Is(cerr, ErrCorrupt) && !errors.Is(cerr, ErrFailed) {
				t.Errorf("%s: Close = %v", name, cerr)
			}
			if err := h29Check(path, m, keep); err != nil {
				t.Errorf("%s: GC returned %v; %v", name, gcErr, err)
			}
			switch {
			case gcErr == nil:
				outcomes["GC nil"]++
			default:
				outcomes["GC ErrCorrupt"]++
			}
			_ = os.Remove(path)
		}
	}
	t.Logf("%d cases from seed %d, %d target pages: %v", cases, seed, len(targets), outcomes)
}
