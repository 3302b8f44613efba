package ckpt_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// TestH164DamagedIndexBranchKeyBeforeList: a List of every thread with
// Before, on a read-only handle (a read-write Open refuses the file: its
// page check compares each branch key with its child's first key), of a
// file where a key of the global index's branch page is damaged upward
// (the key of its second child now that of the child's last entry). A
// reverse seek for a bound between the two lands in the first child,
// finds nothing there at or above the bound and steps to the second
// child's first key, which is below the bound; stepping back from there
// it walked the first child and passed over every entry of the second
// below the bound, and said nothing: a List with Before (the history
// browser's next page, `ckpt log`) read a shorter history as the whole.
// Now a seek that lands below its bound is ErrCorrupt.
func TestH164DamagedIndexBranchKeyBeforeList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h164IndexStore(t)
	// The index's root: a branch page; its second child's key and the
	// last key of that child.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	var pageSize int
	var lastKey []byte
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("index"))
		root, pageSize = uint64(b.Root()), db.Info().PageSize
		return nil
	})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := file[int(root)*pageSize:]
	if flags, count := binary.LittleEndian.Uint16(page[8:]), binary.LittleEndian.Uint16(page[10:]); flags != 0x01 || count < 3 {
		t.Fatalf("index root page %d: flags %#x, %d elements; want a branch of 3 or more", root, flags, count)
	}
	elem := func(p []byte, i int, leaf bool) []byte {
		e := 16 + 16*i
		if leaf {
			pos, ksize := binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:])
			return p[e+int(pos) : e+int(pos)+int(ksize)]
		}
		pos, ksize := binary.LittleEndian.Uint32(p[e:]), binary.LittleEndian.Uint32(p[e+4:])
		return p[e+int(pos) : e+int(pos)+int(ksize)]
	}
	sep := elem(page, 1, false)
	child := file[int(binary.LittleEndian.Uint64(page[16+16+8:]))*pageSize:]
	if flags := binary.LittleEndian.Uint16(child[8:]); flags != 0x02 {
		t.Fatalf("the index's second child: flags %#x, want a leaf", flags)
	}
	n := int(binary.LittleEndian.Uint16(child[10:]))
	lastKey = slices.Clone(elem(child, n-1, true))
	if len(lastKey) != len(sep) || n < 3 {
		t.Fatalf("second child: %d keys, last of %d bytes, branch key of %d", n, len(lastKey), len(sep))
	}
	copy(sep, lastKey) // page aliases file: the branch key is now the child's last key
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(damaged, file, 0o600); err != nil {
		t.Fatal(err)
	}
	before := ulid.ULID(lastKey[:16]).String()

	read := func(p string) (ids []string, err error) {
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		for tp, err := range s.List(ctx, ckpt.ListOptions{Before: before, Limit: 10}) {
			if err != nil {
				return ids, err
			}
			ids = append(ids, tp.Config.ThreadID+"/"+tp.Config.CheckpointID)
		}
		return ids, nil
	}
	want, err := read(path)
	if err != nil || len(want) != 10 {
		t.Fatalf("clean file: %q, %v", want, err)
	}
	got, err := read(damaged)
	if err == nil {
		if !slices.Equal(got, want) {
			t.Fatalf("List{Before: %s} of the damaged file reads %q and no error; the file holds %q", before, got, want)
		}
		return
	}
	if !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("List of the damaged file: %v, want ErrCorrupt", err)
	}
	for i, id := range got {
		if id != want[i] {
			t.Fatalf("List of the damaged file yields %q before its error %v; the file holds %q", got, err, want)
		}
	}
}

// TestH164DamagedIndexChildPointsAtAThreadPage: the global index's root
// branch page names, for its last child, the page of a thread's bucket
// (a damaged page id): its entries are the thread's nested buckets (bl,
// cp, ids, ...). A List of the newest checkpoints walks that page first,
// then the child before, and must not read that child's checkpoints as
// the newest with no error.
func TestH164DamagedIndexChildPointsAtAThreadPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h164IndexStore(t)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root, threadPage uint64
	pageSize := db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("index")).Root())
		threadPage = uint64(tx.Bucket([]byte("threads")).Bucket([]byte("t-000")).Root())
		return nil
	})
	_ = db.Close()
	if err != nil || threadPage == 0 {
		t.Fatalf("thread t-000's bucket page %d: %v", threadPage, err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := file[int(root)*pageSize:]
	count := int(binary.LittleEndian.Uint16(page[10:]))
	if flags := binary.LittleEndian.Uint16(page[8:]); flags != 0x01 || count < 3 {
		t.Fatalf("index root page %d: flags %#x, %d elements; want a branch of 3 or more", root, flags, count)
	}
	binary.LittleEndian.PutUint64(page[16+16*(count-1)+8:], threadPage)
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(damaged, file, 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(p string, opts ckpt.ListOptions) (ids []string, err error) {
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				return ids, err
			}
			ids = append(ids, tp.Config.ThreadID+"/"+tp.Config.CheckpointID)
		}
		return ids, nil
	}
	for _, opts := range []ckpt.ListOptions{{Limit: 5}, {Limit: 100}, {}} {
		want, err := read(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := read(damaged, opts)
		if err == nil {
			if !slices.Equal(got, want) {
				t.Fatalf("List%+v of the damaged file reads %d checkpoints from %q and no error; the file holds %d from %q", opts, len(got), got[:min(len(got), 3)], len(want), want[:3])
			}
			continue
		}
		if !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("List%+v of the damaged file: %v, want ErrCorrupt", opts, err)
		}
	}
}

// h164IndexStore writes 300 threads of two checkpoints each (names of one
// length: every index key has the same length, so one can be copied over
// another) into a closed store file, whose global index then has a
// branch page for its root, and returns its path.
func h164IndexStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idx.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		cfg := ckpt.Config{ThreadID: fmt.Sprintf("t-%03d", i)}
		for step := range 2 {
			cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": fmt.Sprint(step + 1)}}
			if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": fmt.Sprint(step + 1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
