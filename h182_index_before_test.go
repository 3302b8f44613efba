package ckpt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestH182IndexKeyRaisedPastBefore: thread p5's index entry for its
// second checkpoint damaged to the id of the checkpoint after it in the
// index (p6's), its thread and namespace kept: the key still sorts
// between its neighbours, so no walk meets it out of order, but it now
// lies at or above that id. List{Before: that id, Limit: 3} walks the
// entries below it: p4's, p3's and p2's, and the page's check looks only
// at the threads it met (checkIndexPage), so p5's checkpoint, the
// newest below Before, was left out with no error. A List must return
// what the sound store returns, or ErrCorrupt.
func TestH182IndexKeyRaisedPastBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(t.TempDir()+"/s.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := map[string][idLen]byte{}
	for round := range 3 {
		for th := range 10 {
			cfg, err := s.Put(ctx, Config{ThreadID: fmt.Sprintf("p%d", th)}, Checkpoint{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			id, err := parseID("checkpoint", cfg.CheckpointID)
			if err != nil {
				t.Fatal(err)
			}
			ids[fmt.Sprintf("p%d/%d", th, round)] = id
		}
	}
	before := idString(ids["p6/1"])
	list := func() (got []string, err error) {
		for tp, err := range s.List(ctx, ListOptions{Before: before, Limit: 3}) {
			if err != nil {
				return got, err
			}
			got = append(got, tp.Config.ThreadID)
		}
		return got, nil
	}
	want, err := list()
	if err != nil || !slices.Equal(want, []string{"p5", "p4", "p3"}) {
		t.Fatalf("the sound store: %q, %v; want p5, p4, p3", want, err)
	}
	// p5's entry moved to p6's id: above Before, below p6's own entry.
	err = s.write(ctx, func(w writer) error {
		if err := w.Del(indexPath, indexKey(ids["p5/1"], "p5", "")); err != nil {
			return err
		}
		return w.Put(indexPath, indexKey(ids["p6/1"], "p5", ""), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := list()
	switch {
	case err == nil && !slices.Equal(got, want):
		t.Fatalf("List{Before: p6's id, Limit: 3} with p5's entry raised past it: %q and no error; want %q or ErrCorrupt", got, want)
	case err != nil && !errors.Is(err, ErrCorrupt):
		t.Fatalf("List: %v, want ErrCorrupt", err)
	case err != nil && !slices.Equal(got, want[:min(len(got), len(want))]):
		t.Fatalf("List: %q before its error, not a prefix of %q", got, want)
	}
	t.Logf("List: %q, %v", got, err)
}
