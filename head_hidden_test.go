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

// TestWriteOverAHiddenHeadIsRefused: the newest checkpoint C of a
// thread's root namespace has its cp/ key's length byte damaged (0 -> 1):
// the key leaves the namespace's prefix and, the last key of cp/, stays in
// order, so no walk sees it out of place (afb18d3's scan-end check cannot:
// nothing follows it). The head is found by a walk back over the prefix
// (headID), which then found B: a Save chained its new checkpoint onto B
// and returned nil, and Latest read that one, parent B, with no error: C,
// acknowledged, was gone from the thread's line without a word. A Put
// with IfHead and parent B passed the compare-and-set and forked the
// thread. With a namespace of one checkpoint (C alone), Save started the
// namespace again, with no parent. The history order (ids/) still names
// C: each must be refused with ErrCorrupt, and nothing written.
func TestWriteOverAHiddenHeadIsRefused(t *testing.T) {
	t.Parallel()
	for _, mode := range bothLogModes {
		for _, n := range []int{60, 1} { // checkpoints of the root namespace; 1: C alone
			for _, write := range []string{"Save", "Put IfHead"} {
				if n == 1 && write == "Put IfHead" {
					continue // no B to name
				}
				t.Run(fmt.Sprintf("%s/%d/%s", mode.name, n, write), func(t *testing.T) {
					t.Parallel()
					hiddenHeadWrite(t, mode.opts, n, write)
				})
			}
		}
	}
}

func hiddenHeadWrite(t *testing.T, opts Options, n int, write string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	pad := strings.Repeat("x", 100)
	if n == 1 {
		// cp/ needs pages of its own (an inline bucket's keys are not
		// where the map says): checkpoints of namespace "\x01", which
		// sort after the root's, and after C's damaged key too.
		parent := ""
		for i := range 60 {
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: "\x01", CheckpointID: parent},
				Checkpoint{ChannelValues: map[string]any{"pad": pad}, ChannelVersions: map[string]string{"pad": fmt.Sprint("v", i)}},
				nil, map[string]string{"pad": fmt.Sprint("v", i)})
			if err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	for i := range n {
		id, err := s.Save(ctx, "t", map[string]any{"n": i, "pad": pad}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := ids[len(ids)-1]
	idC, err := parseID("id", c)
	if err != nil {
		t.Fatal(err)
	}
	keyC := checkpointKey("", idC)
	// C's key, found in the file as Open left it: its commit moves
	// pages, from where the log's groups left them in the closed file.
	s = openThenDamageFound(t, path, opts, func(b []byte) {
		off := threadKeyOffsetIn(t, b, "t", bucketCheckpoints, keyC)
		if !bytes.Equal(b[off:off+len(keyC)], keyC) {
			t.Fatalf("offset %d does not hold C's key", off)
		}
		b[off+1] = 1 // len16("") becomes 1: out of the root namespace, still in order
	})
	defer s.Close()

	switch write {
	case "Save":
		id, err := s.Save(ctx, "t", map[string]any{"n": n, "pad": pad}, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Save over a hidden head = %q, %v; want ErrCorrupt", id, err)
		}
	case "Put IfHead":
		b := ids[len(ids)-2]
		cfg, err := s.Put(WithWriteOptions(ctx, WriteOptions{IfHead: true}), Config{ThreadID: "t", CheckpointID: b},
			Checkpoint{ChannelValues: map[string]any{"n": "d"}, ChannelVersions: map[string]string{"n": "d"}}, nil, map[string]string{"n": "d"})
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrConflict) {
			t.Errorf("Put IfHead with parent B (C is the head, hidden) = %q, %v; want ErrCorrupt or ErrConflict", cfg.CheckpointID, err)
		}
	}
	// Nothing written: the newest root checkpoint still reads as C, or
	// as damage.
	if snap, err := s.Latest(ctx, "t"); err == nil && snap.CheckpointID != c {
		t.Errorf("Latest = %s (parent %q), no error; C %s is hidden by damage", snap.CheckpointID, snap.ParentID, c)
	}
}
