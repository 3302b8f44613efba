package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/oklog/ulid/v2"
)

// TestShortCheckpointKeyIsCorrupt: a flipped bit in a leaf element's key
// size (bbolt keeps no checksum of a page) makes a checkpoint key two
// bytes short (or leaves only its namespace). GC's walk of the records (the blobs they keep live) took
// the 16 bytes after the namespace as an id without looking at the
// length: a Go panic, which the commit loop turned into "write panicked",
// not ErrCorrupt (the fault hunt of TestH164FlipThenMaintenance, plain,
// seed 17166: GC and Prune), and a read into "bbolt failed on a damaged
// page". The head's key read short the same way in Save, in Put's
// IfHead check, in GC's keep-the-head check and in Branches. A damaged
// key is ErrCorrupt, found by the code that reads it, not by a panic.
func TestShortCheckpointKeyIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		elem func(n int) int // which element of the newest leaf page
		bit  byte            // cleared in its key size (18, 0x12)
	}{
		{"older", func(int) int { return 1 }, 0x02},
		{"head", func(n int) int { return n - 1 }, 0x02},
		{"head-namespace-only", func(n int) int { return n - 1 }, 0x10},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path, last, clean := shortKeyStore(t, 200, c.elem, c.bit)
			ctx := context.Background()
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || engine.FromPanic(err) {
					t.Errorf("%s over a checkpoint key cut short: %v, want ErrCorrupt (not a recovered panic)", what, err)
				}
			}
			s := openDamaged(t, path, Options{NoWAL: true}, clean)
			defer s.Close()
			_, err := s.GC(ctx, Policy{KeepLast: 3, DryRun: true})
			check("GC dry run", err)
			_, err = s.GC(ctx, Policy{KeepLast: 3})
			check("GC", err)
			_, err = s.Branches(ctx, "t")
			check("Branches", err)
			if c.name == "older" {
				return
			}
			_, err = s.Save(ctx, "t", map[string]any{"n": 1}, nil)
			check("Save", err)
			_, err = s.Put(WithWriteOptions(ctx, WriteOptions{IfHead: true}), Config{ThreadID: "t", CheckpointID: last},
				Checkpoint{ChannelValues: map[string]any{"n": 1}}, nil, map[string]string{"n": "x"})
			check("Put IfHead", err)
		})
	}
}

// shortKeyStore writes count checkpoints to thread "t" (ids a second apart,
// given, not drawn: a key cut short still sorts after its predecessor, so
// walks reach it), then clears bit of the key size (18) of the element
// elem(n) of the newest cp/ leaf page, which holds n elements.
// It returns the path, the newest checkpoint's id and the file's bytes
// before the damage.
func shortKeyStore(t *testing.T, count int, elem func(n int) int, bit byte) (path, last string, clean []byte) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{ThreadID: "t"}
	for i := range count {
		id := ulid.MustNew(ulid.Timestamp(base.Add(time.Duration(i)*time.Second)), nil)
		cp := Checkpoint{ID: id.String(), ChannelValues: map[string]any{"n": i}, ChannelVersions: map[string]string{"n": id.String()}}
		if cfg, err = s.Put(ctx, cfg, cp, Metadata{"step": i}, map[string]string{"n": id.String()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	root, ps, data := bucketRoot(t, path, bucketThreads, []byte("t"), bucketCheckpoints)
	page := root * ps
	if binary.LittleEndian.Uint16(data[page+8:]) == 0x01 { // a branch: its last child
		n := int(binary.LittleEndian.Uint16(data[page+10:]))
		page = int(binary.LittleEndian.Uint64(data[page+16+16*(n-1)+8:])) * ps
	}
	if flags := binary.LittleEndian.Uint16(data[page+8:]); flags != 0x02 {
		t.Fatalf("page at %d is not a leaf (flags %#x)", page/ps, flags)
	}
	// A leaf element is flags, pos, ksize, vsize (4 bytes each).
	e := page + 16 + 16*elem(int(binary.LittleEndian.Uint16(data[page+10:])))
	if ks := binary.LittleEndian.Uint32(data[e+8:]); ks != 2+idLen {
		t.Fatalf("element's key size %d, want %d", ks, 2+idLen)
	}
	clean = bytes.Clone(data)
	data[e+8] ^= bit
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cfg.CheckpointID, clean
}

// TestEmptyKeyIsCorrupt: a damaged key size of 0 in the first element of
// a bucket's only leaf (in order: the empty key sorts first) was copied by
// Compact into the new file, where bbolt refuses an empty key: "compact:
// key required", not ErrCorrupt (TestH28ElementHeaderSweep, seed 542).
// CopyThread copied it too: with the write-ahead log the copy was
// acknowledged, then bbolt refused the key when the log was applied: the
// store failed, and every Open after failed replaying that group ("key
// required"), the whole file lost to one damaged key. Every call that
// copies keys refuses it as damage before anything is logged, the store
// goes on, and Verify reports the key.
func TestEmptyKeyIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, noWAL := range []bool{true, false} {
		t.Run(fmt.Sprintf("NoWAL=%v", noWAL), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path, _, _ := shortKeyStore(t, 30, func(int) int { return 0 }, 0x12)
			s, err := Open(path, Options{NoWAL: noWAL})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CopyThread(ctx, "t", "t2", CopyOptions{}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("CopyThread over an empty key: %v, want ErrCorrupt", err)
			}
			id, err := s.Save(ctx, "u", map[string]any{"a": 1}, nil)
			if err != nil {
				t.Fatalf("Save after the refused copy: %v", err)
			}
			if _, err := s.Compact(ctx, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Compact over an empty key: %v, want ErrCorrupt", err)
			}
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err == nil && rep.OK() {
				t.Errorf("Verify over an empty key reports nothing")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s, err = Open(path, Options{NoWAL: noWAL})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			if snap, err := s.Latest(ctx, "u"); err != nil || snap.CheckpointID != id {
				t.Errorf("the Save acknowledged after the refused copy: %v, %v", snap, err)
			}
		})
	}
}

// TestLongCheckpointKeyFailsTheDryRun: a flipped bit in a leaf element's
// key size can also make a checkpoint key longer (18 -> 22: four bytes of
// its value read as key). The history order still names the checkpoint,
// and its record is not found under its key: GC fails with ErrCorrupt,
// while its dry run passed the checkpoint over and reported one
// checkpoint fewer than it plans to remove, with no error. A dry run
// reports what GC would do, or the damage that stops it.
func TestLongCheckpointKeyFailsTheDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _, clean := shortKeyStore(t, 200, func(int) int { return 1 }, 0x04)
	s := openDamaged(t, path, Options{NoWAL: true}, clean)
	defer s.Close()
	if st, err := s.GC(ctx, Policy{KeepLast: 3, DryRun: true}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GC dry run over a checkpoint whose key reads 4 bytes long: %+v, %v; want ErrCorrupt", st, err)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GC over a checkpoint whose key reads 4 bytes long: %v, want ErrCorrupt", err)
	}
}
