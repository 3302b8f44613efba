package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH179BucketFlagSweep flips the bucket flag of leaf elements of a
// store file (every one with CKPT_H179_ALL=1, else every seventh), one per
// case, both ways, then runs the writes and maintenance calls of a store
// with its log: each succeeds or is ErrCorrupt (not a recovered panic),
// Close succeeds (the applier took every acknowledged group: bbolt refused
// none), and the reopened store serves the last acknowledged Save.
func TestH179BucketFlagSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src.db")
	s, err := Open(src, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for i := range 40 {
		th := "t" + strconv.Itoa(i%3)
		if id, err = s.Save(ctx, th, map[string]any{"n": i, "l": []any{i}}, Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, Config{ThreadID: th, CheckpointID: id}, []Write{{Channel: "x", Value: i}}, "task", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	elems := leafElements(t, src)
	step := 7
	if os.Getenv("CKPT_H179_ALL") != "" {
		step = 1
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for i := 0; i < len(elems); i += step {
		cases++
		e := elems[i]
		t.Run(fmt.Sprintf("elem%d", e), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			d := append([]byte(nil), data...)
			d[e] ^= 0x01
			if err := os.WriteFile(path, d, 0o600); err != nil {
				t.Fatal(err)
			}
			flagSweepCase(t, path)
		})
	}
	t.Logf("%d of %d leaf elements flipped", cases, len(elems))
}

func flagSweepCase(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || engine.FromPanic(err) {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	check := func(what string, err error) {
		t.Helper()
		if err != nil && (!errors.Is(err, ErrCorrupt) || engine.FromPanic(err)) && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want success or ErrCorrupt", what, err)
		}
	}
	for i, th := range []string{"t0", "t1", "t2"} {
		_, err = s.Put(ctx, Config{ThreadID: th, CheckpointNS: "sub"}, Checkpoint{ChannelValues: map[string]any{"a": i}}, nil, map[string]string{"a": "1"})
		check("Put in a new namespace", err)
		_, err = s.Save(ctx, th, map[string]any{"n": i}, nil)
		check("Save", err)
		if snap, err := s.Latest(ctx, th); err == nil {
			err = s.PutWrites(ctx, Config{ThreadID: th, CheckpointID: snap.CheckpointID}, []Write{{Channel: "y", Value: i}}, "task9", "")
			check("PutWrites", err)
		}
	}
	check("CopyThread", s.CopyThread(ctx, "t1", "c1", CopyOptions{}))
	_, err = s.GC(ctx, Policy{KeepLast: 3})
	check("GC", err)
	check("DeleteThread", s.DeleteThread(ctx, "t2"))
	last, err := s.Save(ctx, "fresh", map[string]any{"a": 1}, nil)
	check("Save to a new thread", err)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if last != "" {
		if snap, err := s.Latest(ctx, "fresh"); err != nil || snap.CheckpointID != last {
			t.Errorf("the last acknowledged Save: %v, %v; want %s", snap, err, last)
		}
	}
}

// leafElements returns the offset in the file at path of the flags of
// every element of every leaf page reachable from the root (inline
// buckets' too).
func leafElements(t *testing.T, path string) []int {
	t.Helper()
	root, ps, data := bucketRoot(t, path)
	var out []int
	var walk func(p int)
	walk = func(p int) {
		flags, count := binary.LittleEndian.Uint16(data[p+8:]), int(binary.LittleEndian.Uint16(data[p+10:]))
		for i := range count {
			e := p + 16 + 16*i
			if flags == 0x01 {
				walk(int(binary.LittleEndian.Uint64(data[e+8:])) * ps)
				continue
			}
			out = append(out, e)
			if data[e]&0x01 == 0 {
				continue
			}
			pos, ks := int(binary.LittleEndian.Uint32(data[e+4:])), int(binary.LittleEndian.Uint32(data[e+8:]))
			v := e + pos + ks
			if r := int(binary.LittleEndian.Uint64(data[v:])); r != 0 {
				walk(r * ps)
			} else {
				walk(v + 16) // an inline bucket's page
			}
		}
	}
	walk(root * ps)
	return out
}
