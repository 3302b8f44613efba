package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportHiddenUntilPublished: the threads an Import is writing are not
// read until it publishes them. A dump gives a thread's checkpoints before
// its values, pending writes and list segments (exportThread), and Import
// commits it in batches, so between two batches the file holds
// checkpoints whose values are not there yet. After each batch (Progress)
// every read of the store must go on as before the import: a List of
// every thread, with a limit and a filter, a List, GetTuple and Latest of
// an importing thread, Threads and Export. On main they read the half
// threads: the List of every thread and the thread's reads failed with
// ErrCorrupt ("no value stored", "list lineage 2 of channel "msgs" holds 0
// items") on a clean store. Once Import returns, the threads are whole;
// an import that fails halfway leaves nothing to see at any point.
func TestImportHiddenUntilPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const threads, steps = 3, 8
	for th := range threads {
		saveN(t, src, fmt.Sprint("imp", th), 0, steps)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "dst.db"), Options{Durability: NoSync, tuning: &tuning{importBatchRecords: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	own := saveN(t, s, "own", 0, 2)
	// reads checks that s reads as the store before the import: the
	// thread "own" alone.
	reads := func(when string) {
		t.Helper()
		for _, opts := range []ListOptions{{}, {Limit: 3}, {Filter: map[string]any{"i": 1}}, {ThreadID: "imp0"}, {ThreadID: "imp1", Limit: 2}} {
			for tp, err := range s.List(ctx, opts) {
				if err != nil {
					t.Fatalf("%s: List %+v: %v", when, opts, err)
				}
				if tp.Config.ThreadID != "own" {
					t.Fatalf("%s: List %+v found thread %q", when, opts, tp.Config.ThreadID)
				}
			}
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: "imp0"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: GetTuple of an importing thread: %v, want ErrNotFound", when, err)
		}
		if _, err := s.Latest(ctx, "imp1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Latest of an importing thread: %v, want ErrNotFound", when, err)
		}
		for info, err := range s.Threads(ctx) {
			if err != nil || info.ThreadID != "own" {
				t.Fatalf("%s: Threads: %q %v", when, info.ThreadID, err)
			}
		}
		var out bytes.Buffer
		sum, err := s.Export(ctx, &out, ExportOptions{})
		if err != nil || sum.Threads != 1 {
			t.Fatalf("%s: Export: %d threads, %v", when, sum.Threads, err)
		}
	}
	batches := 0
	progress := func(int64) { batches++; reads(fmt.Sprintf("after batch %d", batches)) }
	// Half a dump (cut at a line) fails, after some batches.
	lines := strings.SplitAfter(dump.String(), "\n")
	half := strings.Join(lines[:len(lines)/2], "")
	if _, err := s.Import(ctx, strings.NewReader(half), ImportOptions{Progress: progress}); !errors.Is(err, ErrDump) {
		t.Fatalf("Import of half a dump: %v, want ErrDump", err)
	}
	failed := batches
	reads("after the failed import")
	if _, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{Progress: progress}); err != nil {
		t.Fatal(err)
	}
	if failed < 2 || batches-failed < 4 {
		t.Fatalf("%d and %d batches: the imports were not read between batches", failed, batches-failed)
	}
	n := 0
	for tp, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if tp.Config.ThreadID != "own" {
			n++
		}
	}
	if n != threads*steps {
		t.Fatalf("after the import: %d checkpoints imported listed, want %d", n, threads*steps)
	}
	checkLoads(t, s, "own", own)
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
}

// TestImportUndoFailedStaysHidden: an Import whose undo fails leaves its
// threads half-written in the file until the next read-write Open deletes
// them; reads go on hiding them meanwhile. The undo here fails because
// deleting the thread's 60 index entries is one write past the log's
// record limit (engine.Hooks.MaxRecordBody), which fails that write alone.
func TestImportUndoFailedStaysHidden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, src, "imp", 0, 60)
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dst.db")
	tune := &tuning{importBatchRecords: 1}
	tune.hooks.MaxRecordBody = 1024
	s, err := Open(path, Options{Durability: NoSync, tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	saveN(t, s, "own", 0, 2)
	lines := strings.SplitAfter(dump.String(), "\n")
	half := strings.Join(lines[:len(lines)/2], "")
	_, err = s.Import(ctx, strings.NewReader(half), ImportOptions{})
	if !errors.Is(err, ErrDump) || !strings.Contains(err.Error(), "undo") {
		t.Fatalf("Import of half a dump: %v, want ErrDump and a failed undo", err)
	}
	only := func(when string) {
		t.Helper()
		for tp, err := range s.List(ctx, ListOptions{}) {
			if err != nil || tp.Config.ThreadID != "own" {
				t.Fatalf("%s: List: %v %v", when, tp, err)
			}
		}
	}
	only("after the failed undo")
	if _, err := s.GetTuple(ctx, Config{ThreadID: "imp"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetTuple of the half-imported thread: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil { // its Open deletes them
		t.Fatal(err)
	}
	only("after a reopen")
}
