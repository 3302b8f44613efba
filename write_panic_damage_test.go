package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestWriteOverADamagedElementIsCorrupt: a leaf element of a thread's md/
// page whose key or value size a flipped bit made huge, under an open
// store (a read-write Open checks the pages first). A write that reads
// the element (GC KeepLast, which reads the metadata of what it drops)
// panicked inside bbolt (a slice bound past bbolt's largest array) or in
// the view's bound check on a read-only base (a value longer than the
// file), and the commit loop turned the panic into "write panicked", not
// ErrCorrupt: a caller cannot tell damage from a bug. Reads turn the
// same panics into ErrCorrupt (Guard). A CopyThread that reads the
// element must fail with ErrCorrupt, a GC succeed or fail with it, and
// the store go on.
func TestWriteOverADamagedElementIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, mode := range bothLogModes {
		for _, field := range []struct {
			name string
			at   int    // the field's offset in the element
			size uint32 // what it becomes
		}{{"key size past bbolt's array", 8, 0x7ffffff0}, {"value size past the file", 12, 1 << 24}} {
			t.Run(mode.name+"/"+field.name, func(t *testing.T) {
				t.Parallel()
				writeOverDamagedElement(t, mode.opts, field.at, field.size)
			})
		}
	}
}

func writeOverDamagedElement(t *testing.T, opts Options, field int, size uint32) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	parent := ""
	var first string
	for i := range 200 {
		cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointID: parent},
			Checkpoint{ChannelValues: map[string]any{"x": i}, ChannelVersions: map[string]string{"x": fmt.Sprintf("v%06d", i)}},
			Metadata{"step": i}, map[string]string{"x": fmt.Sprintf("v%06d", i)})
		if err != nil {
			t.Fatal(err)
		}
		parent = cfg.CheckpointID
		if i == 0 {
			first = cfg.CheckpointID
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The element of the oldest checkpoint's metadata, which GC drops.
	id, err := parseID("id", first)
	if err != nil {
		t.Fatal(err)
	}
	key := checkpointKey("", id)
	// Found in the file as Open left it: its commit moves pages, from
	// where the log's groups left them in the closed file.
	s = openThenDamageFound(t, path, opts, func(b []byte) {
		off := threadKeyOffsetIn(t, b, "t", bucketMetadata, key)
		ps := bwWalk(b).ps
		page := off / ps * ps
		elem := -1
		for i := range int(binary.LittleEndian.Uint16(b[page+10:])) {
			e := page + 16 + 16*i
			if e+int(binary.LittleEndian.Uint32(b[e+4:])) == off {
				elem = e
			}
		}
		if elem < 0 {
			t.Fatal("no element of the page points at the key")
		}
		binary.LittleEndian.PutUint32(b[elem+field:], size)
	})
	// CopyThread reads every record of the thread (GC now walks the
	// file's pages first, maint_check.go, and refuses before any op).
	if err := s.CopyThread(ctx, "t", "t2", CopyOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("CopyThread over a damaged md/ element = %v, want ErrCorrupt", err)
	}
	_, gcErr := s.GC(ctx, Policy{KeepLast: 1})
	if gcErr != nil && !errors.Is(gcErr, ErrCorrupt) {
		t.Errorf("GC over a damaged md/ element = %v, want nil or ErrCorrupt", gcErr)
	}
	// The store goes on: a write to another thread is acknowledged.
	if _, err := s.Put(ctx, Config{ThreadID: "other"},
		Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "v1"}},
		Metadata{"step": 1}, map[string]string{"x": "v1"}); err != nil {
		t.Errorf("Put to another thread after the refused GC: %v", err)
	}
	if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Errorf("Close = %v", err)
	}
}
