package ckpt

// A dump is input from outside (`ckpt import FILE`): damaged, cut or
// forged, Import must not panic or run away, must leave the store as it
// was when it returns an error (all or nothing), and what it accepts
// must be a store Verify finds sound. The seeds (an export of a small
// store with a list channel, a fork, pending writes and a namespace) run
// in every `go test`; `go test -fuzz FuzzImportDump` hunts.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzDump exports a small store: two threads, one with a list channel
// grown over steps (delta segments), a fork, pending writes and a
// namespace.
func fuzzDump(f *testing.F) []byte {
	f.Helper()
	ctx := context.Background()
	s, err := Open(filepath.Join(f.TempDir(), "src.db"), Options{Durability: NoSync})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	var items []any
	var first string
	for i := range 6 {
		items = append(items, fmt.Sprintf("message %d", i))
		id, err := s.Save(ctx, "a", map[string]any{"messages": items, "n": int64(i)}, Metadata{"step": i})
		if err != nil {
			f.Fatal(err)
		}
		if i == 1 {
			first = id
		}
	}
	if _, err := s.Save(WithWriteOptions(ctx, WriteOptions{Parent: first}), "a", map[string]any{"messages": []any{"fork"}}, nil); err != nil {
		f.Fatal(err)
	}
	cfg, err := s.Put(ctx, Config{ThreadID: "b", CheckpointNS: "sub"}, Checkpoint{ChannelValues: map[string]any{"x": "y"}, ChannelVersions: map[string]string{"x": "1"}}, Metadata{"source": "input"}, map[string]string{"x": "1"})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "x", Value: "w"}}, "task-1", ""); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Export(ctx, &buf, ExportOptions{}); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzImportDump(f *testing.F) {
	dump := fuzzDump(f)
	f.Add(dump)
	lines := bytes.SplitAfter(dump, []byte("\n"))
	f.Add(bytes.Join(lines[:len(lines)/2], nil))
	f.Fuzz(func(t *testing.T, dump []byte) {
		ctx := context.Background()
		s, err := Open(filepath.Join(t.TempDir(), "dst.db"), Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Save(ctx, "pre", map[string]any{"k": "v"}, nil); err != nil {
			t.Fatal(err)
		}
		threads := func() []string {
			var out []string
			for ti, err := range s.Threads(ctx) {
				if err != nil {
					t.Fatalf("Threads: %v", err)
				}
				out = append(out, ti.ThreadID)
			}
			return out
		}
		_, ierr := s.Import(ctx, bytes.NewReader(dump), ImportOptions{})
		if ierr != nil {
			if !errors.Is(ierr, ErrDump) && !errors.Is(ierr, ErrCorrupt) && !errors.Is(ierr, ErrExists) && !errors.Is(ierr, ErrFormatVersion) {
				t.Logf("Import: %v", ierr) // other kinds are fine too, but say which
			}
			if got := threads(); !slices.Equal(got, []string{"pre"}) {
				t.Fatalf("a failed Import (%v) left threads %q, want only \"pre\"", ierr, got)
			}
		}
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil {
			t.Fatalf("Verify after Import (%v): %v", ierr, err)
		}
		if len(rep.Problems) > 0 {
			t.Fatalf("Import returned %v and Verify finds %d problems, the first: %v", ierr, len(rep.Problems), rep.Problems[0])
		}
	})
}
