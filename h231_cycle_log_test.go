package ckpt

// H231: a read-only Open of a file holding a page cycle across buckets
// (a damaged root id or branch page id naming a page above it) with a
// live write-ahead log beside it, groups the file does not hold yet (a
// store killed with its applier behind): the read reads the log's
// checkpoints over the damaged file, every one exact or ErrCorrupt,
// never wrong, never a hang; a thread the damage is not in reads exact.
// On 6a0c030 the Open's replay of the log into its overlay met the
// damaged bucket when a group wrote into it, and the Open refused the
// file: every thread lost.

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

// h231Store is a built store: per thread, its checkpoints' ids in order
// (x of checkpoint i is thread/i, or thread/log/i for those in the log;
// its metadata's x the same in capitals).
type h231Store struct {
	threads []string
	ids     map[string][]string
	xs      map[string][]string
}

// h231Build writes 150 threads (th000, th050, th100 with 120 checkpoints
// each) to path and closes the store; then, with the applier held, saves
// into th000, th001, th002 and a new thread, so that the groups are in
// the log only, and returns a copy of the file and its log as a kill
// would leave them (opts: extra Options of both opens, e.g. a key).
func h231Build(t *testing.T, opts Options) (copyPath string, st h231Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	st = h231Store{ids: map[string][]string{}, xs: map[string][]string{}}
	save := func(s *Store, th, x string) {
		// Metadata is never sealed (docs/encryption.md): it holds x in
		// capitals, so that the state's x in the clear can be told.
		id, err := s.Save(ctx, th, map[string]any{"x": x}, Metadata{"x": strings.ToUpper(x)})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.ids[th]) == 0 {
			st.threads = append(st.threads, th)
		}
		st.ids[th] = append(st.ids[th], id)
		st.xs[th] = append(st.xs[th], x)
	}
	h231ManyThreads(func(th string, _ int, x string) { save(s, th, x) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u := openUnappliedWith(t, path, opts)
	for i := range 3 {
		for _, th := range []string{"th000", "th001", "th002", "new"} {
			save(u, th, fmt.Sprint(th, "/log/", i))
		}
	}
	return crashCopy(t, u), st
}

// h231Spots lists, in file b, damaged ids that may make a cycle: the
// root ids of th000's and th001's buckets and of th000's own buckets, and
// the first element of each branch page of th000's buckets (the log
// writes into both threads), and the root id of th149's bucket (which it
// does not write).
func h231Spots(b []byte, cw *bwFile) (spots []h231RootSpot) {
	th000, th001 := bwJoin([]string{string(bucketThreads), "th000"}), bwJoin([]string{string(bucketThreads), "th001"})
	for _, sp := range h231RootSpots(b, cw, bwJoin([]string{string(bucketThreads)}), th000) {
		if sp.parent == th000 || sp.owner == th000 || sp.owner == th001 || sp.owner == bwJoin([]string{string(bucketThreads), "th149"}) {
			spots = append(spots, sp)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(cw.pages)) {
		if p := cw.pages[id]; p.branch && strings.HasPrefix(p.owner, th000+"/") {
			spots = append(spots, h231RootSpot{leaf: id, at: id*cw.ps + bwHeader + 8, owner: p.owner, parent: p.owner})
		}
	}
	return spots
}

// h231DamageCycles damages file (its log beside it) at each spot to name
// each page above it, and calls f for each damaged copy that holds a
// page cycle, the copy's path and the thread the damage is in; it
// returns how many copies held one. Under -race f sees every 4th of them
// (raceSample: one copy opened and read at a time, the detector meets
// only the store's own goroutines, which the sample meets too); CI's
// plain command reads every one.
func h231DamageCycles(t *testing.T, file string, f func(path, name, thread string)) (cycles int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cw := bwWalk(b)
	dir := t.TempDir()
	keep := raceSample(t, 4)
	for _, sp := range h231Spots(b, cw) {
		for _, pid := range slices.Sorted(maps.Keys(cw.pages)) {
			p := cw.pages[pid]
			if p.owner != "" && p.owner != sp.parent && !strings.HasPrefix(sp.parent, p.owner+"/") {
				continue
			}
			if sp.parent == sp.owner && p.owner == sp.owner {
				continue // a branch page naming a page of its own tree: a cursor's loop, refused (H229)
			}
			damaged := bytes.Clone(b)
			binary.LittleEndian.PutUint64(damaged[sp.at:], uint64(pid))
			path := filepath.Join(dir, "run.db")
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if !h190Cycle(t, path) {
				continue
			}
			if cycles++; !keep(cycles - 1) {
				continue
			}
			copyFileIn(t, file+walSuffix, path+walSuffix)
			th := strings.Trim(strings.Split(sp.owner, "/")[1], `"`)
			f(path, fmt.Sprintf("page %d's id at %d (%s) names page %d (%s, branch %v)", sp.leaf, sp.at, sp.owner, pid, p.owner, p.branch), th)
		}
	}
	return cycles
}

// h231ReadEvery loads every checkpoint of st from ro: exact, or (for
// thread damaged only) ErrCorrupt; every read bounded.
func h231ReadEvery(ctx context.Context, t *testing.T, name string, ro *Store, st h231Store, damaged string) {
	t.Helper()
	for _, th := range st.threads {
		for i, id := range st.ids[th] {
			want := st.xs[th][i]
			err := h229Bounded(t, name+" Load", func() error { return h231LoadExact(ctx, ro, th, id, want, true) })
			if err != nil && (th != damaged || !errors.Is(err, ErrCorrupt)) {
				t.Errorf("%s: %s's checkpoint %d (%s): %v", name, th, i, want, err)
				break
			}
		}
	}
	h229ReadAll(ctx, t, name, ro, nil, bwJoin([]string{string(bucketThreads), damaged}))
}

// TestH231ReadOnlyCycleFileWithALiveLog: the files of h231Build, damaged
// at each of h231Spots to name each page above it that makes a cycle: a
// read-only Open keeps every one, and h231ReadEvery holds.
func TestH231ReadOnlyCycleFileWithALiveLog(t *testing.T) {
	t.Parallel()
	file, st := h231Build(t, Options{})
	h231ReadCycles(t, file, st, Options{})
}

// h231ReadCycles opens each cycle file h231DamageCycles makes of file
// read-only with opts: every one must be kept and h231ReadEvery hold.
func h231ReadCycles(t *testing.T, file string, st h231Store, opts Options) {
	t.Helper()
	ctx := context.Background()
	opts.ReadOnly = true
	kept := 0
	cycles := h231DamageCycles(t, file, func(path, name, th string) {
		ro, err := Open(path, opts)
		if err != nil {
			t.Errorf("%s: read-only Open: %v, want the file kept", name, err)
			return
		}
		kept++
		h231ReadEvery(ctx, t, name, ro, st, th)
		_ = ro.Close()
	})
	if cycles == 0 {
		t.Fatal("no damaged id made a page cycle")
	}
	t.Logf("%d cycle files, %d kept", cycles, kept)
}

// TestH231EncryptedCycleFile: as TestH231ReadOnlyCycleFileWithALiveLog,
// in an encrypted store (docs/encryption.md): the same cycles, the same
// promise, read with the key.
func TestH231EncryptedCycleFile(t *testing.T) {
	t.Parallel()
	enc := Options{Encryption: &Encryption{Keys: []Key{testKey(7, 31)}}}
	file, st := h231Build(t, enc)
	for _, f := range []string{file, file + walSuffix} {
		if b, err := os.ReadFile(f); err != nil || bytes.Contains(b, []byte("th050/7")) || bytes.Contains(b, []byte("th002/log/1")) {
			t.Fatalf("%s holds a checkpoint's value in the clear (%v): not encrypted", f, err)
		}
	}
	h231ReadCycles(t, file, st, enc)
}
