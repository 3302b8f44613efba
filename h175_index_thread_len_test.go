package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH175IndexKeyNamingNoThreadUnderANamespaceFilter: the low byte of
// the thread name's length in p1's newest index key flipped (2 -> 0): the
// key now names thread "" in namespace "p1". A List of every thread's
// root namespace passed it over as another namespace's before looking for
// its checkpoint, and the page met no other entry of p1: p1's newest
// checkpoint was missing from List{Namespace: "", Limit: 4}, with no
// error (h175's full sweep, read-only, before any write). An index key
// naming a thread that is not stored is damage: ErrCorrupt.
func TestH175IndexKeyNamingNoThreadUnderANamespaceFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := h175Setup(t)
	var tg *h175Target
	for _, c := range h175Targets(t, f.clean, 1, false) {
		if strings.HasPrefix(c.what, "index key 134 ") && strings.HasSuffix(c.what, " byte 17") {
			tg = &c
			break
		}
	}
	if tg == nil || !bytes.Equal(f.orig[tg.off-17:tg.off-15], []byte{0x01, 0xb2}) || !bytes.Equal(f.orig[tg.off-1:tg.off+3], []byte{0, 2, 'p', '1'}) {
		t.Fatal("index key 134 is not p1's, or its thread length is not at byte 17")
	}
	b := bytes.Clone(f.orig)
	b[tg.off] ^= 0x02
	p := filepath.Join(f.dir, "damaged.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	list := func(s *ckpt.Store) (ids []string, err error) {
		for tp, err := range s.List(ctx, ckpt.ListOptions{Namespace: ckpt.NS(""), Limit: 4}) {
			if err != nil {
				return ids, err
			}
			ids = append(ids, tp.Config.ThreadID+"/"+tp.Config.CheckpointID)
		}
		return ids, nil
	}
	want, err := list(mustOpenRO(t, f.clean))
	if err != nil || len(want) != 4 || !strings.HasPrefix(want[1], "p1/") {
		t.Fatalf("clean: %q, %v; want 4 with p1's newest second", want, err)
	}
	s := mustOpenRO(t, p)
	got, err := list(s)
	switch {
	case err == nil && !slices.Equal(got, want):
		t.Fatalf("List{Namespace: \"\", Limit: 4} of the damaged file: %q and no error; want %q or ErrCorrupt", got, want)
	case err != nil && !errors.Is(err, ckpt.ErrCorrupt):
		t.Fatalf("List of the damaged file: %v, want ErrCorrupt", err)
	case err != nil && !slices.Equal(got, want[:len(got)]):
		t.Fatalf("List of the damaged file: %q before its error, not a prefix of %q", got, want)
	}
	rep, verr := s.Verify(ctx, ckpt.VerifyOptions{})
	if verr == nil && rep.OK() {
		t.Fatal("Verify of the damaged file: OK")
	}
}
