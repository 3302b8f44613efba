package ckpt

import (
	"context"
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestH249VerifyOfAKeptCycleFileStillChecksTheMetaPages: a read-only
// Open keeps a file whose thread bucket header leads into a page cycle
// (h248HeaderCycleFile); Verify goes on past it, each thread under its
// own guard, and leaves out bbolt's page check, which would follow the
// cycle. It left out the check of bbolt's two meta pages too, which
// reads the file's first two pages and follows nothing: a damaged older
// meta page beside the cycle (bbolt's fallback, should the newer one be
// lost) went unreported.
func TestH249VerifyOfAKeptCycleFileStillChecksTheMetaPages(t *testing.T) {
	t.Parallel()
	path, _, _ := h248HeaderCycleFile(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's meta: after the 16-byte page header, magic, version, page
	// size, flags (4 bytes each), the root bucket (16), the freelist and
	// high-water mark (8 each), the transaction id (8), the checksum.
	ps := int(binary.LittleEndian.Uint32(b[16+8:]))
	older := 0
	if binary.LittleEndian.Uint64(b[64:]) > binary.LittleEndian.Uint64(b[ps+64:]) {
		older = 1
	}
	b[older*ps+16+16] ^= 0x40 // its root bucket's page id: the checksum fails
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ro := h248OpenRO(t, path)
	rep, err := h229Bounded2(t, "Verify", func() (*VerifyReport, error) { return ro.Verify(context.Background(), VerifyOptions{}) })
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !slices.ContainsFunc(rep.Problems, func(p Problem) bool { return strings.Contains(p.Detail, "meta page") }) {
		t.Errorf("Verify of a kept cycle file whose meta page %d is damaged: no problem names it (%d problems: %v)", older, len(rep.Problems), rep.Problems)
	}
}
