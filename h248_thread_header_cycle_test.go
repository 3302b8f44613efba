package ckpt

// H248: a thread bucket whose header (its root page id, in a leaf of
// threads/) is damaged to name a page above it is kept by a read-only
// Open as that thread's damage alone (precheck_damaged.go's header mark):
// opening threads/<thread> panics into ErrCorrupt naming it. The walks
// over every thread that go on past a damaged thread (Verify, Export's
// SkipDamaged, RecentThreads) still asked r.Exists of the thread's
// bucket outside the thread's own guard, so that one panic ended the
// whole call: Export failed, Verify stopped with "reading the file
// failed" (Incomplete, the index unchecked), RecentThreads with the
// thread's name as its prefix failed.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// h248HeaderCycleFile writes the store of h231ManyThreads with th000's
// bucket header (its root id in the leaf of threads/) damaged to name a
// page above it, a page cycle a read-only Open keeps, and returns the
// damaged file's path, the clean file's path and every thread.
func h248HeaderCycleFile(t *testing.T) (damagedPath, cleanPath string, threads []string) {
	t.Helper()
	dir := t.TempDir()
	cleanPath = filepath.Join(dir, "clean.db")
	clean, threads, _ := h231ManyThreadsFile(t, cleanPath)
	cw := bwWalk(clean)
	owner := bwJoin([]string{string(bucketThreads), "th000"})
	damagedPath = filepath.Join(dir, "damaged.db")
	for _, sp := range h231RootSpots(clean, cw, bwJoin([]string{string(bucketThreads)})) {
		if sp.owner != owner {
			continue
		}
		for _, pid := range slices.Sorted(maps.Keys(cw.pages)) {
			if p := cw.pages[pid]; p.owner != "" && p.owner != sp.parent && !strings.HasPrefix(sp.parent, p.owner+"/") {
				continue // not above the damaged bucket
			}
			damaged := bytes.Clone(clean)
			binary.LittleEndian.PutUint64(damaged[sp.at:], uint64(pid))
			if err := os.WriteFile(damagedPath, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if h190Cycle(t, damagedPath) {
				return damagedPath, cleanPath, threads
			}
		}
	}
	t.Fatal("no damaged header of th000 made a page cycle (the layout changed?)")
	return "", "", nil
}

// h248OpenRO opens path read-only and checks that th000 reads ErrCorrupt
// naming its bucket (the damage is the one h248HeaderCycleFile made).
func h248OpenRO(t *testing.T, path string) *Store {
	t.Helper()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v, want the file kept", err)
	}
	t.Cleanup(func() { _ = ro.Close() })
	if _, err := ro.Latest(context.Background(), "th000"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "threads/th000") {
		t.Fatalf("Latest of th000: %v, want ErrCorrupt naming threads/th000", err)
	}
	return ro
}

// TestH248ExportSkipDamagedPassesAThreadWhoseHeaderIsDamaged: Export with
// SkipDamaged leaves th000 out and writes every other thread, whether it
// walks every thread or is given th000 by name.
func TestH248ExportSkipDamagedPassesAThreadWhoseHeaderIsDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _, threads := h248HeaderCycleFile(t)
	ro := h248OpenRO(t, path)
	sum, err := h229Bounded2(t, "Export", func() (DumpSummary, error) {
		return ro.Export(ctx, io.Discard, ExportOptions{SkipDamaged: true})
	})
	if err != nil || !slices.Equal(sum.Damaged, []string{"th000"}) || sum.Threads != int64(len(threads)-1) {
		t.Errorf("Export of every thread, SkipDamaged: %d threads, damaged %q, %v; want %d threads, damaged [th000], nil",
			sum.Threads, sum.Damaged, err, len(threads)-1)
	}
	sum, err = h229Bounded2(t, "Export", func() (DumpSummary, error) {
		return ro.Export(ctx, io.Discard, ExportOptions{Threads: []string{"th000", "th001"}, SkipDamaged: true})
	})
	if err != nil || !slices.Equal(sum.Damaged, []string{"th000"}) || sum.Threads != 1 {
		t.Errorf("Export of th000 and th001, SkipDamaged: %d threads, damaged %q, %v; want 1 thread, damaged [th000], nil",
			sum.Threads, sum.Damaged, err)
	}
	if _, err := ro.Export(ctx, io.Discard, ExportOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Export without SkipDamaged: %v, want ErrCorrupt", err)
	}
}

// TestH248VerifyOfAThreadWhoseHeaderIsDamagedFinishes: Verify names th000
// damaged and checks everything else, the directory of threads and the
// index included: the report is not Incomplete, holds no "reading the
// file failed", and counts the index entries a clean file's Verify does.
func TestH248VerifyOfAThreadWhoseHeaderIsDamagedFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, cleanPath, threads := h248HeaderCycleFile(t)
	clean, err := Open(cleanPath, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	want, err := clean.Verify(ctx, VerifyOptions{})
	_ = clean.Close()
	if err != nil || !want.OK() {
		t.Fatalf("Verify of the clean file: %v %+v", err, want)
	}
	ro := h248OpenRO(t, path)
	var rep *VerifyReport
	if err := h229Bounded(t, "Verify", func() error {
		var err error
		rep, err = ro.Verify(ctx, VerifyOptions{})
		return err
	}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, p := range rep.Problems {
		if p.Thread == "" && strings.Contains(p.Detail, "reading the file failed") {
			t.Errorf("Verify stopped at th000's damage: %s", p.Detail)
		}
	}
	if rep.Incomplete || !slices.Equal(rep.DamagedThreads, []string{"th000"}) || rep.Threads != len(threads) || rep.IndexEntries != want.IndexEntries {
		t.Errorf("Verify: incomplete %v, damaged %q, %d threads, %d index entries; want complete, damaged [th000], %d threads, %d index entries",
			rep.Incomplete, rep.DamagedThreads, rep.Threads, rep.IndexEntries, len(threads), want.IndexEntries)
	}
}

// TestH248RecentThreadsPrefixOfAThreadWhoseHeaderIsDamaged: RecentThreads
// whose prefix is th000's whole name lists th000 with its ErrCorrupt, as
// a page without a prefix does, instead of failing.
func TestH248RecentThreadsPrefixOfAThreadWhoseHeaderIsDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _, _ := h248HeaderCycleFile(t)
	ro := h248OpenRO(t, path)
	var page ThreadPage
	if err := h229Bounded(t, "RecentThreads", func() error {
		var err error
		page, err = ro.RecentThreads(ctx, ThreadQuery{Prefix: "th000"})
		return err
	}); err != nil {
		t.Fatalf("RecentThreads prefix th000: %v, want th000 listed with its error", err)
	}
	if page.Total != 1 || len(page.Threads) != 1 || page.Threads[0].ThreadID != "th000" || len(page.Errs) != 1 || !errors.Is(page.Errs[0], ErrCorrupt) {
		t.Errorf("RecentThreads prefix th000: total %d, threads %+v, errs %v; want th000 alone with ErrCorrupt", page.Total, page.Threads, page.Errs)
	}
}

// TestH248VerifyBlamesNoThreadForADamagedIndexOrDir: a branch page of the
// global index or of the directory of threads whose child id is damaged
// to name a page above it, a page cycle a read-only Open keeps (that
// bucket alone reads ErrCorrupt). Every thread's own records are sound
// (with the index damaged, Export's SkipDamaged leaves none out). Verify
// named every thread damaged (each thread's check looks its checkpoints
// up in the index, and its namespaces in the directory, under the
// thread's guard), telling a user that every thread was lost; it must
// name the damaged bucket instead, no thread, and say the check is
// incomplete (VerifyReport.DamagedThreads: a thread's own records or
// pages; Incomplete: damage outside any one thread).
func TestH248VerifyBlamesNoThreadForADamagedIndexOrDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	clean, threads, _ := h231ManyThreadsFile(t, filepath.Join(dir, "clean.db"))
	for _, bucket := range [][]byte{bucketIndex, dirPath[0]} {
		path := filepath.Join(dir, string(bucket)+".db")
		h248TopCycle(t, clean, bucket, path)
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: read-only Open: %v, want the file kept", bucket, err)
		}
		if bytes.Equal(bucket, bucketIndex) {
			// Every thread's own records read: Export does not read the
			// index. (The directory of threads it does read, for each
			// thread's namespaces.)
			sum, err := h229Bounded2(t, "Export", func() (DumpSummary, error) {
				return ro.Export(ctx, io.Discard, ExportOptions{SkipDamaged: true})
			})
			if err != nil || len(sum.Damaged) != 0 || sum.Threads != int64(len(threads)) {
				t.Errorf("%s: Export, SkipDamaged: %d threads, damaged %d, %v; want every thread", bucket, sum.Threads, len(sum.Damaged), err)
			}
		}
		rep, err := h229Bounded2(t, "Verify", func() (*VerifyReport, error) { return ro.Verify(ctx, VerifyOptions{}) })
		_ = ro.Close()
		if err != nil {
			t.Fatalf("%s: Verify: %v", bucket, err)
		}
		named := slices.ContainsFunc(rep.Problems, func(p Problem) bool {
			return p.Thread == "" && strings.Contains(p.Detail, "bucket "+string(bucket)+":")
		})
		if len(rep.DamagedThreads) != 0 || !rep.Incomplete || !named || rep.Threads != len(threads) {
			t.Errorf("%s: Verify: %d threads checked, damaged %d (first %q), incomplete %v, a problem naming the bucket %v; "+
				"want %d threads checked, none damaged, incomplete, the bucket named", bucket, rep.Threads, len(rep.DamagedThreads), rep.DamagedThreads[:min(3, len(rep.DamagedThreads))], rep.Incomplete, named, len(threads))
		}
	}
}

// h248DirCycleFile writes the store of h231ManyThreads with a branch
// page of the directory of threads naming a page of the top buckets'
// tree as its child: a page cycle a read-only Open keeps, dir alone
// reading ErrCorrupt. It returns the damaged file's path.
func h248DirCycleFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clean, _, _ := h231ManyThreadsFile(t, filepath.Join(dir, "clean.db"))
	path := filepath.Join(dir, "dir.db")
	h248TopCycle(t, clean, bucketDir, path)
	return path
}

// h248TopCycle writes at path the file clean with a branch page of the
// top bucket named bucket naming a page of the top buckets' tree as its
// child: a page cycle a read-only Open keeps, that bucket alone reading
// ErrCorrupt.
func h248TopCycle(t *testing.T, clean, bucket []byte, path string) {
	t.Helper()
	cw := bwWalk(clean)
	ids := slices.Sorted(maps.Keys(cw.pages))
	owner := bwJoin([]string{string(bucket)})
	for _, did := range ids {
		if d := cw.pages[did]; !d.branch || d.owner != owner {
			continue
		}
		for _, pid := range ids {
			if cw.pages[pid].owner != "" {
				continue // a page of the top buckets' tree: above every bucket
			}
			damaged := bytes.Clone(clean)
			binary.LittleEndian.PutUint64(damaged[did*cw.ps+bwHeader+8:], uint64(pid))
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if h190Cycle(t, path) {
				return
			}
		}
	}
	t.Fatalf("%s: no damaged branch id made a page cycle (the layout changed?)", bucket)
}

// TestH248ExportFailsWholeOnADamagedDir: a page cycle a read-only Open
// keeps in the directory of threads, which Export reads for each
// thread's namespaces: damage outside any one thread, which fails Export
// as a whole, the error saying where. With SkipDamaged it returned nil
// and an empty dump that named every thread damaged, their own records
// sound.
func TestH248ExportFailsWholeOnADamagedDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h248DirCycleFile(t)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v, want the file kept", err)
	}
	defer ro.Close()
	for _, skip := range []bool{true, false} {
		sum, err := h229Bounded2(t, "Export", func() (DumpSummary, error) {
			return ro.Export(ctx, io.Discard, ExportOptions{SkipDamaged: skip})
		})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bucket dir:") || len(sum.Damaged) != 0 {
			t.Errorf("Export, SkipDamaged %v: %d threads, %d damaged, %v; want ErrCorrupt naming bucket dir, no thread named damaged",
				skip, sum.Threads, len(sum.Damaged), err)
		}
	}
}

// TestH248ThreadsFailWholeOnADamagedDir: Threads and RecentThreads read
// each thread's namespaces in the directory of threads, so a page cycle
// there is damage outside any one thread: the call fails, saying where,
// where each thread was listed damaged.
func TestH248ThreadsFailWholeOnADamagedDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ro, err := Open(h248DirCycleFile(t), Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v, want the file kept", err)
	}
	defer ro.Close()
	listed, damaged := 0, 0
	err = h229Bounded(t, "Threads", func() error {
		for info, err := range ro.Threads(ctx) {
			if info.ThreadID == "" {
				return err
			}
			listed++
			if err != nil {
				damaged++
			}
		}
		return nil
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bucket dir:") || damaged > 0 {
		t.Errorf("Threads: %d listed, %d of them damaged, %v; want ErrCorrupt naming bucket dir, no thread damaged", listed, damaged, err)
	}
	page, err := h229Bounded2(t, "RecentThreads", func() (ThreadPage, error) { return ro.RecentThreads(ctx, ThreadQuery{}) })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bucket dir:") {
		t.Errorf("RecentThreads: %d threads, %d errs, %v; want ErrCorrupt naming bucket dir", len(page.Threads), len(page.Errs), err)
	}
}
