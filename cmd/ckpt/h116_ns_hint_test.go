package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// `ckpt log FILE THREAD` lists the checkpoints of every namespace, with an
// NS column; an id copied from a subgraph's row into `ckpt show` or `ckpt
// diff` without --ns was "not found ... namespace """, with no word that
// the checkpoint is there, in another namespace, and --ns reaches it.
func TestShowAndDiffSayWhichNamespaceHoldsTheID(t *testing.T) {
	dir, db, sub := nsStore(t)
	for _, args := range [][]string{
		{"show", db, "t", sub[1]},
		{"show", db, "t", sub[1][:24]},
		{"diff", db, "t", sub[0], sub[1]},
	} {
		failsWith(t, runIn(t, dir, "", args...), 1, `namespace "sub:1": add --ns sub:1`)
	}
	// With --ns it is found, as before.
	ok(t, dir, "show", db, "t", sub[1], "--ns", "sub:1")
	// A namespace the thread does not have names those it has.
	failsWith(t, runIn(t, dir, "", "show", db, "t", "--ns", "nope"), 1, `thread "t" has no namespace "nope" (it has namespaces (root), sub:1)`)
}

// `ckpt log --ns NAME` of a namespace the thread does not have printed
// "no checkpoint ... in namespace NAME" and exited 0, where `ckpt show
// --ns NAME` fails naming the namespaces the thread has: a typo read as
// an empty history. A namespace that exists with no checkpoint matching
// --filter is still an empty listing, exit 0.
func TestLogOfANamespaceTheThreadLacksNamesThoseItHas(t *testing.T) {
	t.Parallel()
	dir, db, _ := nsStore(t)
	failsWith(t, runIn(t, dir, "", "log", db, "t", "--ns", "sub:2"), 1, `thread "t" has no namespace "sub:2" (it has namespaces (root), sub:1)`)
	if out := ok(t, dir, "log", db, "t", "--ns", "sub:1", "--filter", "node=none").stdout; !strings.Contains(out, "no checkpoint") {
		t.Errorf("log of a namespace with no match: %q", out)
	}
	if out := ok(t, dir, "log", db, "t", "--ns", "sub:1").stdout; !strings.Contains(out, "lookup") {
		t.Errorf("log --ns sub:1: %q", out)
	}
}

// nsStore writes a store whose thread "t" has one checkpoint in the root
// namespace (node "root") and two in "sub:1" (node "lookup"), returned.
func nsStore(t *testing.T) (dir, db string, sub []string) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, "ns.db")
	ctx := context.Background()
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, ckpt.Metadata{"node": "root"}); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := range 2 {
		out, err := s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointNS: "sub:1", CheckpointID: prev},
			ckpt.Checkpoint{V: 1, ChannelValues: map[string]any{"q": i}, ChannelVersions: map[string]string{"q": string(rune('1' + i))}},
			ckpt.Metadata{"node": "lookup"}, map[string]string{"q": string(rune('1' + i))})
		if err != nil {
			t.Fatal(err)
		}
		prev = out.CheckpointID
		sub = append(sub, out.CheckpointID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, db, sub
}
