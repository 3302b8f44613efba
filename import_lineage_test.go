package ckpt

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

// TestForkFromEmptyListKeepsSibling: two children of a checkpoint whose
// list channel is empty each append one item; the first child's list
// must still read back after the second is written.
func TestForkFromEmptyListKeepsSibling(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2, 3, 8} {
		s := openTestStore(t, Options{DeltaFold: k})
		ctx := context.Background()
		put := func(parent Config, v string, msgs []string) Config {
			t.Helper()
			c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": msgs}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		read := func(c Config) []string {
			t.Helper()
			tp, err := s.GetTuple(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := tp.Decode("m", &got); err != nil {
				t.Fatal(err)
			}
			return got
		}
		p := put(Config{ThreadID: "t"}, "1", []string{})
		x := put(p, "2", []string{"x"})
		y := put(p, "3", []string{"y"})
		if got := read(x); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("K=%d: first child reads %v after its sibling was written, saved [x]", k, got)
		}
		if got := read(y); !slices.Equal(got, []string{"y"}) {
			t.Fatalf("K=%d: second child reads %v, saved [y]", k, got)
		}
	}
}

// TestImportRaisesLineageOfEmptyList: an empty list is a reference to a
// lineage with no segment, so a dump holds no segment naming that lineage.
// Import must still number new lineages above it: otherwise a child that
// appends to the empty list writes its delta into the lineage, and a later
// keyframe given the same lineage id overwrites that delta, so the
// acknowledged child reads its sibling's list.
func TestImportRaisesLineageOfEmptyList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := openTestStore(t, Options{})
	p, err := src.Put(ctx, Config{ThreadID: "t"}, Checkpoint{ChannelValues: map[string]any{"m": []string{}}, ChannelVersions: map[string]string{"m": "1"}}, nil, map[string]string{"m": "1"})
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, Options{})
	if _, err := s.Import(ctx, &dump, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(v string, msgs []string) Config {
		t.Helper()
		c, err := s.Put(ctx, p, Checkpoint{ChannelValues: map[string]any{"m": msgs}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	x := put("2", []string{"x"}) // a delta in the empty list's lineage
	y := put("3", []string{"y"}) // a fork: a keyframe of a new lineage
	for _, c := range []struct {
		cfg  Config
		want string
	}{{x, "x"}, {y, "y"}} {
		tp, err := s.GetTuple(ctx, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := tp.Decode("m", &got); err != nil || !slices.Equal(got, []string{c.want}) {
			t.Fatalf("checkpoint %s reads %v (%v), saved [%s]", c.cfg.CheckpointID, got, err, c.want)
		}
	}
}
