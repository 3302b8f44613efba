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

// TestH164ListFirstIsTheNewestOrAnError: a thread's newest checkpoint
// record is gone from the file (a flipped byte of its key moved it out of
// the namespace's range; here deleted). A List of the namespace walks the
// namespace's records, finds the older ones, and its page check then
// finds the history entry with no record: ErrCorrupt. But the page was
// yielded first: a caller that takes the first tuple as the newest (a
// List with Limit 1, LangGraph's way to read the latest, or any loop that
// stops at the first) read an older checkpoint as the head and never saw
// the error. Every List must yield the checkpoints the file holds, in
// order, up to where it fails: its first item here is the error.
func TestH164ListFirstIsTheNewestOrAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "first.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ckpt.Config{ThreadID: "t"}
	for step := range 5 {
		cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": string(rune('1' + step))}}
		if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": string(rune('1' + step))}); err != nil {
			t.Fatal(err)
		}
	}
	newest := cfg.CheckpointID
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := ulid.MustParse(newest)
	if err := db.Update(func(tx *bolt.Tx) error {
		cp := tx.Bucket([]byte("threads")).Bucket([]byte("t")).Bucket([]byte("cp"))
		return cp.Delete(append([]byte{0, 0}, id[:]...)) // nsKey("") | id
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, opts := range []ckpt.ListOptions{
		{ThreadID: "t", Namespace: ckpt.NS(""), Limit: 1},
		{ThreadID: "t", Namespace: ckpt.NS("")},
		{ThreadID: "t", Limit: 1},
		{Limit: 1},
	} {
		for tp, err := range s.List(ctx, opts) {
			if err == nil {
				t.Errorf("List%+v: first item %s, no error; the thread's newest is %s, whose record is gone", opts, tp.Config.CheckpointID, newest)
			} else if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("List%+v: %v, want ErrCorrupt", opts, err)
			}
			break // the caller that takes the first as the newest
		}
	}
}

// TestH164ListPassesNoKeyOverBeforeItsError: an entry in the middle of a
// leaf of the global index gets a first byte of 0xff (out of order: above
// every id). A List with Before walks that leaf down from its last entry;
// the scan passes the entry over as out of order and goes on, and ends
// with ErrCorrupt. The checkpoints after the one passed over were yielded
// before the error: a caller that stopped there missed one with no error.
// A List yields the file's checkpoints in order up to where it fails.
func TestH164ListPassesNoKeyOverBeforeItsError(t *testing.T) {
	t.Parallel()
	h164OutOfOrderIndexKey(t, func(n int) int { return n / 2 }, 20)
}

// TestH164ListPagePassesNoKeyOverBeforeItsError: as above, the damaged
// entry a quarter into the leaf, where the seek does not land: the walk
// down from the leaf's end meets it, passes it over as out of order, goes
// on, and ends with ErrCorrupt; the page yielded what it walked after
// the entry first, a history with one checkpoint missing.
func TestH164ListPagePassesNoKeyOverBeforeItsError(t *testing.T) {
	t.Parallel()
	h164OutOfOrderIndexKey(t, func(n int) int { return n / 4 }, 60)
}

// h164OutOfOrderIndexKey writes 300 threads of two checkpoints, gives the
// entry at(n) of the global index's second leaf (of n entries) a first
// byte of 0xff, and lists limit checkpoints before that leaf's last on a
// read-only handle: what the List yields before its error, if any, must
// be the file's checkpoints in order.
func h164OutOfOrderIndexKey(t *testing.T, at func(n int) int, limit int) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "order.db")
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
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	pageSize := db.Info().PageSize
	_ = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("index")).Root())
		return nil
	})
	_ = db.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := file[int(root)*pageSize:]
	if flags, count := binary.LittleEndian.Uint16(page[8:]), binary.LittleEndian.Uint16(page[10:]); flags != 0x01 || count < 3 {
		t.Fatalf("index root page %d: flags %#x, %d elements; want a branch of 3 or more", root, flags, count)
	}
	leaf := file[int(binary.LittleEndian.Uint64(page[16+16+8:]))*pageSize:]
	n := int(binary.LittleEndian.Uint16(leaf[10:]))
	key := func(i int) []byte {
		e := 16 + 16*i
		pos, ksize := binary.LittleEndian.Uint32(leaf[e+4:]), binary.LittleEndian.Uint32(leaf[e+8:])
		return leaf[e+int(pos) : e+int(pos)+int(ksize)]
	}
	last := key(n - 1)
	before := ulid.ULID(last[:16]).String() // the walk starts in this leaf
	key(at(n))[0] = 0xff
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(damaged, file, 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(p string) (ids []string, err error) {
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		for tp, err := range s.List(ctx, ckpt.ListOptions{Before: before, Limit: limit}) {
			if err != nil {
				return ids, err
			}
			ids = append(ids, tp.Config.ThreadID+"/"+tp.Config.CheckpointID)
		}
		return ids, nil
	}
	want, err := read(path)
	if err != nil || len(want) != limit {
		t.Fatalf("clean file: %d, %v", len(want), err)
	}
	got, err := read(damaged)
	if err == nil {
		if !slices.Equal(got, want) {
			t.Fatalf("List of the damaged file: %q, no error; the file holds %q", got, want)
		}
		return
	}
	if !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("List of the damaged file: %v, want ErrCorrupt", err)
	}
	if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
		t.Fatalf("List of the damaged file yields %d checkpoints before %v, not the file's first %d (a checkpoint passed over): %q", len(got), err, len(got), got)
	}
}
