//go:build unix

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// Seed 13 (h32, sealed round 2): a flipped byte of a thread's history
// order key (the checkpoint's id), which put it out of its page's order.
// cp of that thread walked the history order, found no checkpoint by the
// damaged id and failed with "not found: checkpoint ... in thread ...":
// a line that does not say the file is damaged (the lookup of the order
// entry, which tells a damaged order from a missing checkpoint, is a seek
// that misses a key out of order), and so did log. An order entry names a
// checkpoint stored in the same transaction: one that is not is damage.
func TestH32CpAndLogOfADamagedHistoryOrderKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Small(t, dir)
	path := filepath.Join(dir, "f.db")
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(context.Background(), ckpt.Config{ThreadID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	id, err := ulid.ParseStrict(tp.Config.CheckpointID)
	if err != nil {
		t.Fatal(err)
	}
	// The newest checkpoint's order key (its 16 id bytes, namespace ""),
	// last in its page, now sorts first.
	h31EditElems(t, path, func(k, _ []byte) bool {
		if !bytes.Equal(k, id[:]) {
			return false
		}
		k[0] = 0
		return true
	})
	h31FailsOnDamage(t, h31Exec(t, dir, "log", "f.db", "a"))
	h31FailsOnDamage(t, h31Exec(t, dir, "cp", "f.db", "a", "c"))
}
