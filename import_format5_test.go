package ckpt

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

// TestImportFormat5Dump: a dump of a store whose records carry format 5's
// sums (over the key, not the thread) imports into a new store with every
// record summed over its thread, reads back as its source, and lists,
// forks and appends on as a store written by this build.
func TestImportFormat5Dump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _ := formatFile(t, 5)
	src, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if threaded, _ := threadSums(t, src, "lists"); threaded != 0 {
		t.Fatalf("source: %d records summed over their thread, want format 5's", threaded)
	}
	dump := export(t, src, "lists")
	want := threadState(t, src, "lists")

	dst := newInspectStore(t)
	if _, err := dst.Import(ctx, bytes.NewReader(dump), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := threadState(t, dst, "lists"); !slices.Equal(got, want) {
		t.Fatalf("imported thread reads back otherwise:\n got %q\nwant %q", got, want)
	}
	if threaded, other := threadSums(t, dst, "lists"); threaded == 0 || other != 0 {
		t.Fatalf("imported: %d records summed over their thread, %d not", threaded, other)
	}
	// Appends and forks go on from the imported lineages.
	var cps []*Tuple
	for tp, err := range dst.List(ctx, ListOptions{ThreadID: "lists"}) {
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, tp)
	}
	for _, tp := range []*Tuple{cps[0], cps[len(cps)/2]} {
		for ch, raw := range tp.Checkpoint.ChannelValues {
			var l []any
			if raw.(Raw).Decode(&l) != nil {
				continue // not a list
			}
			l = append(l, "more")
			v := tp.Checkpoint.ChannelVersions[ch] + "+"
			c, err := dst.Put(ctx, tp.Config, Checkpoint{ChannelValues: map[string]any{ch: l}, ChannelVersions: map[string]string{ch: v}}, nil, map[string]string{ch: v})
			if err != nil {
				t.Fatal(err)
			}
			got, err := dst.GetTuple(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var back []any
			if err := got.Decode(ch, &back); err != nil || len(back) != len(l) || back[len(back)-1] != "more" {
				t.Fatalf("channel %q appended on an imported checkpoint reads %d items (%v), want %d", ch, len(back), err, len(l))
			}
		}
	}
	if rep, err := dst.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
}
