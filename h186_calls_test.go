package ckpt

// The calls of helper-186's hunt (h186_maint_damage_hunt_test.go) and its
// driver.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h186Dumps are the dumps the Import calls read: a-new, t1 (a thread the
// store has) and z-new; and n-new alone.
type h186Dumps struct {
	exists, fresh []byte
	imported      map[string][]h186CP // thread -> its checkpoints (namespace "")
}

func h186MakeDumps(t *testing.T, dir string) h186Dumps {
	t.Helper()
	ctx := context.Background()
	s, err := Open(filepath.Join(dir, "dumps.db"), Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := h186Dumps{imported: map[string][]h186CP{}}
	for _, th := range []string{"a-new", "t1", "z-new", "n-new"} {
		d.imported[th] = h186Stream(t, s, th, "", 4, time.Now())
	}
	var b bytes.Buffer
	if _, err := s.Export(ctx, &b, ExportOptions{Threads: []string{"a-new", "t1", "z-new"}}); err != nil {
		t.Fatal(err)
	}
	d.exists = bytes.Clone(b.Bytes())
	b.Reset()
	if _, err := s.Export(ctx, &b, ExportOptions{Threads: []string{"n-new"}}); err != nil {
		t.Fatal(err)
	}
	d.fresh = bytes.Clone(b.Bytes())
	return d
}

// h186Absent says that thread th is not in the store: neither in the file
// nor to a read.
func h186Absent(ctx context.Context, ro *Store, after *bwFile, th string) error {
	if _, ok := after.entries[bwJoin([]string{string(bucketThreads), th})]; ok {
		return fmt.Errorf("thread %s is in the file", th)
	}
	if _, err := ro.Thread(ctx, th); !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("thread %s: Thread = %v, want ErrNotFound", th, err)
	}
	return nil
}

func h186Calls(m h186Model, rng *rand.Rand, d h186Dumps) []*h186Call {
	k := 1 + rng.IntN(3)
	age := 1 + rng.IntN(5)
	keepLast := func(_ error, _, _ string, j, n int, _ h186CP) bool { return j >= n-k }
	all := h186Set(h186Threads...)
	head := func(th, ns string) h186CP { cps := m[[2]string{th, ns}]; return cps[len(cps)-1] }
	var copyErr error
	putID := [idLen]byte(mustID(newIDSource().kit.Next(time.Now())))
	var saveID string
	return []*h186Call{
		{name: fmt.Sprintf("GC KeepLast %d", k), targets: all, keep: keepLast,
			run: func(ctx context.Context, s *Store) error { _, err := s.GC(ctx, Policy{KeepLast: k}); return err }},
		{name: fmt.Sprintf("GC MaxAge %dh", age), targets: all,
			keep: func(_ error, th, _ string, j, n int, _ h186CP) bool {
				if th == "t2" {
					return j == n-1
				}
				return j >= n-age
			},
			run: func(ctx context.Context, s *Store) error {
				_, err := s.GC(ctx, Policy{MaxAge: time.Duration(age) * time.Hour})
				return err
			}},
		{name: "GC ThreadTTL 10d", targets: h186Set("t2"), keep: func(error, string, string, int, int, h186CP) bool { return false },
			run: func(ctx context.Context, s *Store) error {
				_, err := s.GC(ctx, Policy{ThreadTTL: 10 * 24 * time.Hour})
				return err
			}},
		{name: "DeleteThread t1", targets: h186Set("t1"), keep: func(error, string, string, int, int, h186CP) bool { return false },
			run: func(ctx context.Context, s *Store) error { return s.DeleteThread(ctx, "t1") }},
		{name: "Prune t0 KeepLatest", targets: h186Set("t0"), keep: func(_ error, _, _ string, j, n int, _ h186CP) bool { return j == n-1 },
			run: func(ctx context.Context, s *Store) error { return s.Prune(ctx, []string{"t0"}, PruneKeepLatest) }},
		{name: "Prune t2 Delete", targets: h186Set("t2"), keep: func(error, string, string, int, int, h186CP) bool { return false },
			run: func(ctx context.Context, s *Store) error { return s.Prune(ctx, []string{"t2"}, PruneDelete) }},
		{name: "DeleteForRuns r1", targets: all, keep: func(_ error, _, _ string, _, _ int, c h186CP) bool { return c.run != "r1" },
			run: func(ctx context.Context, s *Store) error { return s.DeleteForRuns(ctx, []string{"r1"}) }},
		{name: fmt.Sprintf("CopyThread t0 t3, GC KeepLast %d", k), targets: all, keep: keepLast,
			run: func(ctx context.Context, s *Store) error {
				copyErr = s.CopyThread(ctx, "t0", "t3", CopyOptions{})
				_, err := s.GC(ctx, Policy{KeepLast: k})
				if copyErr != nil && errors.Is(err, ErrFailed) {
					err = nil // the copy failed the store: its error says it
				}
				return errors.Join(copyErr, err)
			},
			post: func(ctx context.Context, ro *Store, _ error, _, after *bwFile, excl map[h186Owner]bool) error {
				if copyErr != nil {
					return h186Absent(ctx, ro, after, "t3")
				}
				for _, ns := range h186NSs {
					cps := m[[2]string{"t0", ns}]
					for j := len(cps) - k; j < len(cps); j++ {
						if excl[h186Owner{"t0", ns, j}] {
							continue
						}
						if err := h186Read(ctx, ro, "t3", "t0", ns, cps[j]); err != nil {
							return fmt.Errorf("the copy's kept checkpoint %q %d: %w", ns, j, err)
						}
					}
				}
				return nil
			}},
		{name: "CopyThread t0 t1 Replace", targets: h186Set("t1"),
			keep: func(err error, _, _ string, _, _ int, _ h186CP) bool { return err != nil }, // one transaction
			run: func(ctx context.Context, s *Store) error {
				return s.CopyThread(ctx, "t0", "t1", CopyOptions{Replace: true})
			},
			post: func(ctx context.Context, ro *Store, err error, _, _ *bwFile, excl map[h186Owner]bool) error {
				if err != nil {
					return nil
				}
				for _, ns := range h186NSs {
					for j, c := range m[[2]string{"t0", ns}] {
						if excl[h186Owner{"t0", ns, j}] {
							continue
						}
						if err := h186Read(ctx, ro, "t1", "t0", ns, c); err != nil {
							return fmt.Errorf("the copy's checkpoint %q %d: %w", ns, j, err)
						}
					}
				}
				return nil
			}},
		{name: "Compact", targets: map[string]bool{},
			run: func(ctx context.Context, s *Store) error { _, err := s.Compact(ctx, nil); return err }},
		{name: "Import a-new t1 z-new", targets: map[string]bool{},
			run: func(ctx context.Context, s *Store) error {
				_, err := s.Import(ctx, bytes.NewReader(d.exists), ImportOptions{})
				return err
			},
			ok: func(err error) bool { return errors.Is(err, ErrExists) || errors.Is(err, ErrCorrupt) },
			post: func(ctx context.Context, ro *Store, _ error, _, after *bwFile, _ map[h186Owner]bool) error {
				return errors.Join(h186Absent(ctx, ro, after, "a-new"), h186Absent(ctx, ro, after, "z-new"))
			}},
		{name: "Import n-new", targets: map[string]bool{},
			run: func(ctx context.Context, s *Store) error {
				_, err := s.Import(ctx, bytes.NewReader(d.fresh), ImportOptions{})
				return err
			},
			post: func(ctx context.Context, ro *Store, err error, _, after *bwFile, _ map[h186Owner]bool) error {
				if err != nil {
					return h186Absent(ctx, ro, after, "n-new")
				}
				for _, c := range d.imported["n-new"] {
					if err := h186Read(ctx, ro, "n-new", "n-new", "", c); err != nil {
						return fmt.Errorf("imported checkpoint %d: %w", c.i, err)
					}
				}
				return nil
			}},
		{name: "PutFull t0 a", targets: map[string]bool{}, write: true,
			run: func(ctx context.Context, s *Store) error {
				h := head("t0", "a")
				_, err := s.PutFull(ctx, Config{ThreadID: "t0", CheckpointNS: "a", CheckpointID: idString(h.id)},
					Checkpoint{ID: idString(putID), ChannelValues: map[string]any{"x": "put"}, ChannelVersions: map[string]string{"x": "x999999", "y": h.vy}},
					Metadata{"step": -1}, map[string]string{"x": "x999999"}, nil)
				return err
			},
			post: func(ctx context.Context, ro *Store, err error, _, after *bwFile, excl map[h186Owner]bool) error {
				cfg := Config{ThreadID: "t0", CheckpointNS: "a", CheckpointID: idString(putID)}
				key := bwJoin([]string{string(bucketThreads), "t0", string(bucketCheckpoints), string(checkpointKey("a", putID))})
				tup, rerr := ro.GetTuple(ctx, cfg)
				if err != nil {
					if _, ok := after.entries[key]; ok || rerr == nil {
						return fmt.Errorf("the put returned %v and is there (read: %v)", err, rerr)
					}
					return nil
				}
				if rerr != nil {
					return fmt.Errorf("the put returned nil and reads %w", rerr)
				}
				var x, y string
				h := head("t0", "a")
				if err := errors.Join(tup.Decode("x", &x), tup.Decode("y", &y)); err != nil {
					if excl[h186Owner{"t0", "a", len(m[[2]string{"t0", "a"}]) - 1}] {
						return nil // its y is the damaged head's
					}
					return fmt.Errorf("the put reads: %w", err)
				}
				if x != "put" || y != h186Y("t0", "a", h.i) {
					return fmt.Errorf("the put reads x=%q y=%q", x, y)
				}
				return nil
			}},
		{name: "Save t1", targets: map[string]bool{}, write: true,
			run: func(ctx context.Context, s *Store) (err error) {
				saveID, err = s.Save(ctx, "t1", map[string]any{"x": "saved"}, Metadata{"step": -2})
				return err
			},
			post: func(ctx context.Context, ro *Store, err error, before, after *bwFile, _ map[h186Owner]bool) error {
				if err != nil {
					prefix := bwJoin([]string{string(bucketThreads), "t1", string(bucketCheckpoints)}) + "/"
					for key := range after.entries {
						if strings.HasPrefix(key, prefix) && before.entries[key] == nil {
							return fmt.Errorf("the save returned %v and %s is there", err, key)
						}
					}
					return nil
				}
				snap, rerr := ro.Load(ctx, "t1", saveID)
				if rerr != nil {
					return fmt.Errorf("the save returned nil and reads %w", rerr)
				}
				var x string
				if err := snap.Decode("x", &x); err != nil || x != "saved" {
					return fmt.Errorf("the save reads x=%q (%v)", x, err)
				}
				return nil
			}},
	}
}

// TestH186MaintOverDamageKeeps runs the hunt: CKPT_H186_CASES flips (8 in
// the suite) from CKPT_H186_SEED, after a run on the clean file that
// checks the oracle itself; each call in a WAL and a NoWAL store.
// CKPT_H186_ONLY runs one case, CKPT_H186_CALL the calls whose names hold
// it; CKPT_H186_WRITES=1 adds the single writes (PutFull, Save), whose
// known defect TestH186WriteThroughFlippedPageID shows.
func TestH186MaintOverDamageKeeps(t *testing.T) {
	t.Parallel()
	// Each case's calls run one at a time on a damaged copy: under -race
	// three of the eight (CI's plain command runs all eight).
	cases, seed := raceRounds(t, 8, 3), uint64(1)
	if v, err := strconv.Atoi(os.Getenv("CKPT_H186_CASES")); err == nil {
		cases = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H186_SEED"), 10, 64); err == nil {
		seed = v
	}
	if testing.Short() {
		cases = min(cases, 2)
	}
	only := -2
	if v, err := strconv.Atoi(os.Getenv("CKPT_H186_ONLY")); err == nil {
		only = v
	}
	h186Hunt(t, seed, cases, only, os.Getenv("CKPT_H186_CALL"))
}

// h186Hunt runs cases flips from seed (only: that case alone, -2 all),
// the calls whose names hold call.
func h186Hunt(t *testing.T, seed uint64, cases, only int, call string) {
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	m := h186Build(t, base, rand.New(rand.NewPCG(seed, 186)))
	clean, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	dumps := h186MakeDumps(t, dir)
	cw := bwWalk(clean)
	owners := h186Owners(cw, m)
	var branch, keyLeaf, valLeaf []*bwPage
	for _, p := range cw.pages {
		switch {
		case p.branch:
			branch = append(branch, p)
		case strings.HasSuffix(p.owner, `"bl"`) || strings.HasSuffix(p.owner, `"ls"`):
			valLeaf = append(valLeaf, p)
		default:
			keyLeaf = append(keyLeaf, p)
		}
	}
	for _, ps := range [][]*bwPage{branch, keyLeaf, valLeaf} {
		sortPages(ps)
	}
	if len(branch) < 3 || len(keyLeaf) < 10 {
		t.Fatalf("%d branch and %d leaf pages, want more", len(branch), len(keyLeaf))
	}
	outcomes := map[string]map[string]int{}
	for c := -1; c < cases; c++ {
		cs := seed*1_000_003 + uint64(c+1)
		rng := rand.New(rand.NewPCG(cs, 186186))
		damaged, flipped, where := clean, -1, "clean"
		if c >= 0 {
			pages := [][]*bwPage{branch, keyLeaf, keyLeaf, valLeaf}[rng.IntN(4)]
			pg := pages[rng.IntN(len(pages))]
			var at int
			if len(pg.keys) > 0 && rng.IntN(2) == 0 {
				k := pg.keys[rng.IntN(len(pg.keys))]
				at = k[0] + rng.IntN(max(k[1], 1))
			} else {
				at = pg.id*cw.ps + rng.IntN(max(pg.used, bwHeader))
			}
			damaged = bytes.Clone(clean)
			damaged[at] ^= 1 << rng.IntN(8)
			flipped = at / cw.ps
			where = fmt.Sprintf("page %d (%s, branch %v) byte %d", flipped, pg.owner, pg.branch, at)
		}
		if only != -2 && only != c {
			continue
		}
		before := bwWalk(damaged)
		// A read-only Open refuses some damage (a page cycle, a damaged
		// bucket element) before any call: then a reopen after it may too.
		pre := filepath.Join(dir, "pre.db")
		if err := os.WriteFile(pre, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		// What reads before the call: a read of a checkpoint passes pages
		// of its neighbours (a seek lands past its last key), so damage
		// there fails it with no key of its own on the page.
		preRefused, readable := false, map[h186Owner]bool{}
		if ro, err := Open(pre, Options{ReadOnly: true}); err != nil {
			preRefused = true
		} else {
			for k, cps := range m {
				for j, cp := range cps {
					readable[h186Owner{k[0], k[1], j}] = h186Read(ctx, ro, k[0], k[0], k[1], cp) == nil
				}
			}
			_ = ro.Close()
		}
		excl := h186Excluded(cw, owners, flipped)
		for _, cl := range h186Calls(m, rng, dumps) {
			if !strings.Contains(cl.name, call) || cl.write && call == "" && os.Getenv("CKPT_H186_WRITES") == "" {
				continue
			}
			call := cl
			for _, mode := range bothLogModes {
				name := fmt.Sprintf("case %d (seed %d) %s %s over %s", c, cs, call.name, mode.name, where)
				path := filepath.Join(dir, "run.db")
				for _, p := range []string{path + "-wal", path + ".compact"} {
					_ = os.Remove(p)
				}
				if err := os.WriteFile(path, clean, 0o600); err != nil {
					t.Fatal(err)
				}
				var s *Store
				if c < 0 {
					if s, err = Open(path, mode.opts); err != nil {
						t.Fatal(err)
					}
				} else {
					s, _ = openThenDamageAnywhere(t, path, mode.opts, damaged)
				}
				callErr := call.run(ctx, s)
				cerr := s.Close()
				ok := call.ok
				if ok == nil {
					ok = h186NilOrCorrupt
				}
				if !ok(callErr) || c < 0 && callErr != nil && call.ok == nil {
					t.Errorf("%s: returned %v", name, callErr)
				}
				if cerr != nil && !errors.Is(cerr, ErrCorrupt) && !errors.Is(cerr, ErrFailed) {
					t.Errorf("%s: Close = %v", name, cerr)
				}
				after, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				aw := bwWalk(after)
				if bad := h186Check(call, callErr, m, cw, aw, owners, flipped); len(bad) > 0 {
					t.Errorf("%s: returned %v; %d kept keys lost or changed, first %s", name, callErr, len(bad), bad[0])
				}
				res := "nil"
				switch {
				case errors.Is(callErr, ErrCorrupt):
					res = "ErrCorrupt"
				case errors.Is(callErr, ErrExists):
					res = "ErrExists"
				case callErr != nil:
					res = "other"
				}
				if outcomes[call.name] == nil {
					outcomes[call.name] = map[string]int{}
				}
				outcomes[call.name][res]++
				ro, err := Open(path, Options{ReadOnly: true})
				if err != nil {
					if !preRefused || !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: returned %v; read-only reopen: %v", name, callErr, err)
					}
					continue
				}
				h186ReadKept(ctx, t, name, ro, call, callErr, m, excl, readable)
				if call.post != nil {
					if err := call.post(ctx, ro, callErr, before, aw, excl); err != nil {
						t.Errorf("%s: returned %v; %v", name, callErr, err)
					}
				}
				_ = ro.Close()
			}
		}
	}
	for name, o := range outcomes {
		t.Logf("%s: %v", name, o)
	}
	t.Logf("%d cases from seed %d; %d branch, %d key leaf, %d value leaf pages", cases, seed, len(branch), len(keyLeaf), len(valLeaf))
}

// h186ReadKept reads every checkpoint the call keeps that the flip did
// not touch and that read before the call.
func h186ReadKept(ctx context.Context, t *testing.T, name string, ro *Store, call *h186Call, callErr error, m h186Model, excl, readable map[h186Owner]bool) {
	t.Helper()
	for k, cps := range m {
		for j, c := range cps {
			o := h186Owner{k[0], k[1], j}
			if excl[o] || !readable[o] || !h186Kept(call, callErr, m, o) {
				continue
			}
			if err := h186Read(ctx, ro, k[0], k[0], k[1], c); err != nil {
				t.Errorf("%s: returned %v; kept checkpoint %s %q %d: %v", name, callErr, k[0], k[1], j, err)
				return
			}
		}
	}
}

func sortPages(ps []*bwPage) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].id < ps[j-1].id; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// TestH186CopyGCOverDamagedIndexBranch: a byte of the index's branch page
// flipped under an open store; CopyThread then GC KeepLast returned nil
// and the values of checkpoints GC kept (of threads the flip never
// touched) were gone. bbolt spills a transaction's buckets in map order,
// so the pages differ run to run: six rounds (each failed about every
// other time).
func TestH186CopyGCOverDamagedIndexBranch(t *testing.T) {
	t.Parallel()
	for range 6 {
		h186Hunt(t, 1, 1, 0, "CopyThread t0 t3")
	}
}

// TestH186WriteThroughFlippedPageID: one bit of a page id in a branch page
// (a thread's bl/ or cp/) flipped under an open store; PutFull or Save
// returned nil and left a page cycle: no Open reads the store after it,
// every thread's checkpoints lost to it. Each write now checks the pages
// on its keys' paths first (internal/engine/write_path.go). The pages
// differ run to run (bbolt spills a transaction's buckets in map order):
// case 4 of seed 1 met it in 3 of 4 runs of ten rounds, so a few rounds
// here; TestH190WriteThroughFlippedPageIDKeepsOtherThreads meets it in
// every run. Under -race 2 rounds (raceRounds: one store written and
// reopened at a time, the detector meets only the store's own
// goroutines, which fewer rounds meet too); CI's plain command runs
// all 5.
func TestH186WriteThroughFlippedPageID(t *testing.T) {
	t.Parallel()
	for range raceRounds(t, 5, 2) {
		h186Hunt(t, 1, 8, 4, "PutFull")
		h186Hunt(t, 1, 8, 4, "Save")
	}
}
