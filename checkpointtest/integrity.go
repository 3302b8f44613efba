package checkpointtest

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// integrityTests are the kit's cases for what no backend may acknowledge
// wrongly; Run runs them after the others.
var integrityTests = []struct {
	name string
	fn   func(t *testing.T, s ckpt.Saver)
}{
	{"PutAgainMayNotMakeACycle", testPutAgainNoCycle},
}

// testPutAgainNoCycle: a Put of a stored checkpoint again under another
// parent may not make the checkpoint its own ancestor, through any length
// of chain (A, B child of A, C child of B: A again under B or under C).
// It is ErrInvalidConfig and writes nothing: the checkpoint keeps its
// parent and metadata. A put again under the same parent (a retried put),
// or under a parent that does not descend from it, is stored.
func testPutAgainNoCycle(t *testing.T, s ckpt.Saver) {
	put := func(parent ckpt.Config, id string, step int64) (ckpt.Config, error) {
		cp := emptyCheckpoint()
		cp.ID = id
		return s.Put(ctx, parent, cp, ckpt.Metadata{"step": step}, nil)
	}
	root := ckpt.Config{ThreadID: "cycle"}
	a := must(t).cfg(put(root, "", 0))
	b := must(t).cfg(put(a, "", 1))
	c := must(t).cfg(put(b, "", 2))
	d := must(t).cfg(put(c, "", 3))
	for _, parent := range []ckpt.Config{b, c, d} {
		if _, err := put(parent, a.CheckpointID, 9); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("Put of %s again under its descendant %s: %v, want ErrInvalidConfig", a.CheckpointID, parent.CheckpointID, err)
		}
	}
	if _, err := put(d, b.CheckpointID, 9); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Put of %s again under its descendant %s: %v, want ErrInvalidConfig", b.CheckpointID, d.CheckpointID, err)
	}
	for _, c := range []struct {
		cfg    ckpt.Config
		parent *ckpt.Config
		step   int64
	}{{a, nil, 0}, {b, &a, 1}} {
		got := must(t).tuple(s.GetTuple(ctx, c.cfg))
		if got.Metadata["step"] != c.step || (got.ParentConfig == nil) != (c.parent == nil) ||
			c.parent != nil && *got.ParentConfig != *c.parent {
			t.Fatalf("a refused put changed %s: parent %+v, metadata %v", c.cfg.CheckpointID, got.ParentConfig, got.Metadata)
		}
	}
	// Allowed: the same parent again, and a parent not descending from it.
	must(t).cfg(put(c, d.CheckpointID, 3))
	must(t).cfg(put(a, d.CheckpointID, 4))
	got := must(t).tuple(s.GetTuple(ctx, d))
	if got.ParentConfig == nil || *got.ParentConfig != a || got.Metadata["step"] != int64(4) {
		t.Fatalf("put again under an ancestor: parent %+v, metadata %v", got.ParentConfig, got.Metadata)
	}
	// Now c has no child, and still descends from a and b: a put again of
	// either under c makes a cycle; one of c under d (a child of a) does
	// not.
	for _, cp := range []ckpt.Config{a, b} {
		if _, err := put(c, cp.CheckpointID, 9); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("Put of %s again under %s: %v, want ErrInvalidConfig", cp.CheckpointID, c.CheckpointID, err)
		}
	}
	must(t).cfg(put(d, c.CheckpointID, 5))
}
