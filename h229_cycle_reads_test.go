package ckpt

// H229: every read of a read-only store whose file holds a page cycle
// across buckets (the files TestH190WriteBesideADamagedPageIDKeepsThe
// FileReadable makes: c3f22d1 keeps them open, the damaged bucket reads
// ErrCorrupt) returns, with exact data or an error, never hangs or
// crashes the process.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// h229CycleFiles makes up to want files holding a page cycle (as
// h190Beside does) and returns their paths.
func h229CycleFiles(t *testing.T, want int) []string {
	ctx := context.Background()
	dir := t.TempDir()
	var out []string
	for round := 0; round < 4 && len(out) < want; round++ {
		base := filepath.Join(dir, "base.db")
		_ = os.Remove(base)
		m := h186Build(t, base, rand.New(rand.NewPCG(1, 186)))
		clean, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		w := h190Writes(m)[0]
		for _, fl := range h190BesideFlips(t, clean) {
			if len(out) >= want {
				break
			}
			damaged := bytes.Clone(clean)
			binary.LittleEndian.PutUint64(damaged[fl.at:], uint64(fl.to))
			for _, mode := range bothLogModes {
				path := filepath.Join(dir, "run.db")
				h190BesideRun(ctx, t, path, mode.opts, clean, damaged, w)
				if !h190Cycle(t, path) {
					continue
				}
				keep := filepath.Join(dir, fmt.Sprintf("cycle%d.db", len(out)))
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(keep, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if d := os.Getenv("CKPT_H229_SAVE"); d != "" {
					_ = os.WriteFile(filepath.Join(d, filepath.Base(keep)), b, 0o600)
				}
				out = append(out, keep)
				break
			}
		}
	}
	return out
}

// h229Bounded runs f in a goroutine and fails the test if it has not
// returned in a minute (a hang: no timing is asserted otherwise).
func h229Bounded(t *testing.T, name string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no return in 60 s (a hang on a page cycle)", name)
		return nil
	}
}

func TestH229EveryReadOfACycleFileReturns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := h229CycleFiles(t, 3)
	if len(files) == 0 {
		t.Skip("no run left a page cycle")
	}
	for _, path := range files {
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Errorf("%s: read-only Open: %v", path, err)
			continue
		}
		calls := map[string]func() error{
			"Verify": func() error { _, err := ro.Verify(ctx, VerifyOptions{}); return err },
			"Export": func() error { _, err := ro.Export(ctx, io.Discard, ExportOptions{}); return err },
			"Backup": func() error { return ro.Backup(ctx, io.Discard) },
			"BackupFile": func() error {
				return ro.BackupFile(ctx, filepath.Join(t.TempDir(), "b.db"))
			},
			"Stats":         func() error { _, err := ro.Stats(ctx); return err },
			"Metrics":       func() error { _ = ro.Metrics(); return nil },
			"Threads":       func() error { return h229FirstErr(ro.Threads(ctx)) },
			"RecentThreads": func() error { _, err := ro.RecentThreads(ctx, ThreadQuery{}); return err },
			"List":          func() error { return h229FirstErr(ro.List(ctx, ListOptions{})) },
			"SealedKeys":    func() error { _, err := ro.SealedKeys(ctx); return err },
			"CopyThread":    func() error { return ro.CopyThread(ctx, "t0", "t9", CopyOptions{}) },
		}
		for _, th := range []string{"t0", "t1", "t2", "t3"} {
			calls["History "+th] = func() error { return h229FirstErr(ro.History(ctx, th, ListOptions{})) }
			calls["Thread "+th] = func() error { _, err := ro.Thread(ctx, th); return err }
			calls["Latest "+th] = func() error { _, err := ro.Latest(ctx, th); return err }
			calls["Branches "+th] = func() error { _, err := ro.Branches(ctx, th); return err }
			calls["List "+th] = func() error { return h229FirstErr(ro.List(ctx, ListOptions{ThreadID: th})) }
		}
		for _, n := range slices.Sorted(maps.Keys(calls)) {
			err := h229Bounded(t, path+" "+n, calls[n])
			t.Logf("%s %s: %v", filepath.Base(path), n, err)
			switch {
			case strings.HasSuffix(n, " t1") || strings.HasSuffix(n, " t2") || strings.HasSuffix(n, " t3"):
				if err != nil {
					t.Errorf("%s %s (a sound thread): %v", path, n, err)
				}
			case n == "CopyThread":
				if !errors.Is(err, ErrReadOnly) {
					t.Errorf("%s %s: %v, want ErrReadOnly", path, n, err)
				}
			case err != nil && !errors.Is(err, ErrCorrupt):
				t.Errorf("%s %s: %v, want nil or ErrCorrupt", path, n, err)
			}
		}
		_ = ro.Close()
		// A read-write Open still refuses the file, and leaves it as it was.
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if rw, err := Open(path, Options{}); err == nil {
			_ = rw.Close()
			t.Errorf("%s: a read-write Open kept a file with a page cycle", path)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: read-write Open: %v, want ErrCorrupt", path, err)
		}
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
			t.Errorf("%s: the refused read-write Open changed the file (%v)", path, err)
		}
	}
}

// TestH229DirectCycleFlipsReadExactOrCorrupt: a page id of a branch page
// of bucket B damaged (at rest, no write after it) to name a page of a
// bucket above B (one whose tree holds B's root, or the top buckets'
// tree): a page cycle from the start. A read-only Open refuses the file
// or keeps it; kept, every read returns within a bound, the threads whose
// buckets are not B or above it read exact, the others exact or
// ErrCorrupt.
func TestH229DirectCycleFlipsReadExactOrCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	m := h186Build(t, base, rand.New(rand.NewPCG(1, 186)))
	clean, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	cw := bwWalk(clean)
	ids := slices.Sorted(maps.Keys(cw.pages))
	outcomes := map[string]int{}
	// Under -race every 4th damaged file (single-goroutine: one read-only
	// store open at a time, so the detector meets only the store's own
	// goroutines, which the sample meets too); CI's plain command sweeps
	// all.
	keep, k := raceSample(t, 4), -1
	for _, did := range ids {
		d := cw.pages[did]
		if !d.branch || d.owner == "" {
			continue
		}
		n := int(binary.LittleEndian.Uint16(clean[did*cw.ps+10:]))
		for _, pid := range ids {
			p := cw.pages[pid]
			if p.owner != "" && !strings.HasPrefix(d.owner, p.owner+"/") {
				continue
			}
			for i := range n {
				if k++; !keep(k) {
					continue
				}
				at := did*cw.ps + bwHeader + i*bwElem + 8
				damaged := bytes.Clone(clean)
				binary.LittleEndian.PutUint64(damaged[at:], uint64(pid))
				name := fmt.Sprintf("page %d (%s) element %d names page %d (%s, branch %v)", did, d.owner, i, pid, p.owner, p.branch)
				path := filepath.Join(dir, "run.db")
				if err := os.WriteFile(path, damaged, 0o600); err != nil {
					t.Fatal(err)
				}
				ro, err := Open(path, Options{ReadOnly: true})
				if err != nil {
					outcomes["refused"]++
					continue
				}
				outcomes["kept"]++
				h229ReadAll(ctx, t, name, ro, m, d.owner)
				_ = ro.Close()
			}
		}
	}
	t.Logf("%v", outcomes)
}

// h229ReadAll reads every checkpoint of m from ro: exact, or ErrCorrupt
// for a thread whose buckets hold or are the damaged bucket owner.
func h229ReadAll(ctx context.Context, t *testing.T, name string, ro *Store, m h186Model, owner string) {
	t.Helper()
	for _, th := range h186Threads {
		mayFail := strings.HasPrefix(owner, bwJoin([]string{string(bucketThreads), th})) || !strings.HasPrefix(owner, bwJoin([]string{string(bucketThreads)})+"/")
		for _, ns := range h186NSs {
			for j, c := range m[[2]string{th, ns}] {
				err := h229Bounded(t, name+" GetTuple", func() error { return h186Read(ctx, ro, th, th, ns, c) })
				if err != nil && (!mayFail || !errors.Is(err, ErrCorrupt)) {
					t.Errorf("%s: %s's checkpoint %q %d: %v", name, th, ns, j, err)
				}
			}
		}
		_ = h229Bounded(t, name+" History", func() error { return h229FirstErr(ro.History(ctx, th, ListOptions{})) })
	}
	for what, f := range map[string]func() error{
		"Verify": func() error { _, err := ro.Verify(ctx, VerifyOptions{}); return err },
		"Export": func() error { _, err := ro.Export(ctx, io.Discard, ExportOptions{}); return err },
		"Stats":  func() error { _, err := ro.Stats(ctx); return err },
		"Recent": func() error { _, err := ro.RecentThreads(ctx, ThreadQuery{}); return err },
		"Threads": func() error {
			for range ro.Threads(ctx) {
			}
			return nil
		},
		"List": func() error {
			for range ro.List(ctx, ListOptions{}) {
			}
			return nil
		},
	} {
		_ = h229Bounded(t, name+" "+what, f)
	}
}

// TestH229DirectCycleFlipsManyThreads: as TestH229DirectCycleFlipsRead
// ExactOrCorrupt, in a store of many threads (the threads bucket and the
// big threads' buckets have branch pages): every Load exact or
// ErrCorrupt, and exact for a thread whose buckets are not on the damage's
// path.
func TestH229DirectCycleFlipsManyThreads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	clean, threads, want := h231ManyThreadsFile(t, filepath.Join(dir, "base.db")) // want: thread: ids, x = thread/i
	cw := bwWalk(clean)
	ids := slices.Sorted(maps.Keys(cw.pages))
	outcomes := map[string]int{}
	path := filepath.Join(dir, "run.db")
	// Each damaged spot: a branch element's page id, or (leaf, true) a
	// nested bucket's root page id in a leaf element.
	type spot struct {
		page, elem, at int
		owner          string // the bucket the damaged id leads into
		// scope: the bucket whose reads may fail. A nested bucket's root
		// id damaged in a leaf is that bucket's damage (h231's markCycle;
		// 7d9a056 charged it to the leaf's bucket, every bucket under it
		// read ErrCorrupt).
		scope string
		leaf  bool
	}
	var spots []spot
	for _, did := range ids {
		d := cw.pages[did]
		n := int(binary.LittleEndian.Uint16(clean[did*cw.ps+10:]))
		if !d.branch || d.owner == "" {
			continue
		}
		for _, i := range []int{0, n / 2, n - 1} {
			spots = append(spots, spot{did, i, did*cw.ps + bwHeader + i*bwElem + 8, d.owner, d.owner, false})
		}
	}
	// And the root id of every nested bucket that is not inline, in
	// whichever leaf holds it.
	for _, sp := range h231RootSpots(clean, cw) {
		spots = append(spots, spot{sp.leaf, sp.elem, sp.at, sp.owner, sp.owner, true})
	}
	// Under -race every 32nd damaged file (single-goroutine: the race
	// detector adds nothing the sample does not); CI's plain command
	// sweeps all (843 files, 18 s of CPU without -race; every 8th took
	// 64 s of CPU under -race: each read is a goroutine and a timer).
	keep, n := raceSample(t, 32), 0
	for _, sp := range spots {
		did, d, scope := sp.page, &bwPage{owner: sp.owner}, sp.scope
		for _, pid := range ids {
			p := cw.pages[pid]
			// A branch page of the damaged id's own tree too (a branch
			// spot): a cycle in one tree's branch pages, which a cursor
			// goes round for ever, must be refused.
			same := p.owner == d.owner && p.branch && !sp.leaf
			if !same && p.owner != "" && !strings.HasPrefix(d.owner, p.owner+"/") {
				continue
			}
			if n++; !keep(n) {
				continue
			}
			{
				i, at := sp.elem, sp.at
				damaged := bytes.Clone(clean)
				binary.LittleEndian.PutUint64(damaged[at:], uint64(pid))
				name := fmt.Sprintf("page %d (%s) element %d names page %d (%s, branch %v)", did, d.owner, i, pid, p.owner, p.branch)
				if err := os.WriteFile(path, damaged, 0o600); err != nil {
					t.Fatal(err)
				}
				ro, err := Open(path, Options{ReadOnly: true})
				if err != nil {
					outcomes["refused"]++
					continue
				}
				outcomes["kept"]++
				for _, th := range threads {
					mayFail := !strings.HasPrefix(scope, bwJoin([]string{string(bucketThreads)})+"/") ||
						scope == bwJoin([]string{string(bucketThreads), th}) || strings.HasPrefix(scope, bwJoin([]string{string(bucketThreads), th})+"/")
					for i, id := range want[th] {
						err := h229Bounded(t, name+" Load", func() error { return h231LoadExact(ctx, ro, th, id, fmt.Sprint(th, "/", i), false) })
						if err != nil && (!mayFail || !errors.Is(err, ErrCorrupt)) {
							t.Errorf("%s: %s's checkpoint %d: %v", name, th, i, err)
							break
						}
					}
				}
				h229ReadAll(ctx, t, name, ro, nil, scope)
				_ = ro.Close()
			}
		}
	}
	t.Logf("%v", outcomes)
}
