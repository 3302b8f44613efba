package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestGCKeepLastOverAnOrderEntryInAnotherNamespace: one flipped byte of
// the namespace in a history-order key (ids/: id | ns) moves a's newest
// checkpoint's entry into namespace b, in order (ids/ sorts by id first),
// its record still in a's cp/. GC KeepLast 2 counted the namespace's
// entries in ids/: the moved one was b's newest, b's newest checkpoint its
// second and b's second newest, which the policy keeps, was dropped, in a
// transaction of its own (retention cuts its work into transactions);
// only the sweep after it, counting cp/ against ids/, said ErrCorrupt.
// What the policy keeps must stay: GC must refuse the damage (ErrCorrupt)
// before it deletes, or keep b's two newest.
func TestGCKeepLastOverAnOrderEntryInAnotherNamespace(t *testing.T) {
	ctx := context.Background()
	for _, mode := range bothLogModes {
		t.Run(mode.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, mode.opts)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string][]string{}
			for _, w := range []struct {
				ns string
				n  int
			}{{"b", 30}, {"a", 10}} {
				parent := ""
				for i := range w.n {
					ver := fmt.Sprint("v", i)
					cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: w.ns, CheckpointID: parent},
						Checkpoint{ChannelValues: map[string]any{"x": w.ns + ver}, ChannelVersions: map[string]string{"x": ver}},
						Metadata{"step": i}, map[string]string{"x": ver})
					if err != nil {
						t.Fatal(err)
					}
					parent = cfg.CheckpointID
					ids[w.ns] = append(ids[w.ns], parent)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			newestA, err := parseID("id", ids["a"][9])
			if err != nil {
				t.Fatal(err)
			}
			off := threadKeyOffset(t, path, "t", bucketOrder, orderKey(newestA, "a"))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[off+idLen] = 'b' // its namespace "a" -> "b"
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			opts := mode.opts
			opts.tuning = &tuning{gcTxKeys: 12}
			s2, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			_, gcErr := s2.GC(ctx, Policy{KeepLast: 2})
			if gcErr != nil && !errors.Is(gcErr, ErrCorrupt) {
				t.Fatalf("GC: %v, want nil or ErrCorrupt", gcErr)
			}
			for _, id := range ids["b"][28:] {
				if _, err := s2.GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: "b", CheckpointID: id}); err != nil {
					t.Errorf("b's checkpoint %s, one of the two newest KeepLast 2 keeps, after GC (%v): %v", id, gcErr, err)
				}
			}
		})
	}
}
