package engine

// H251: what a read's view keeps after a panic it recovered. A read of a
// damaged file may recover bbolt's panic itself, under a guard of its own
// (the store's Threads, RecentThreads, Stats and Verify go on past one
// damaged thread), and then read on with the same view, and its pooled
// read serves the reads after it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// h251Leaf is a leaf page of a bucket's tree: its id and keys.
type h251Leaf struct {
	id   uint64
	keys [][]byte
}

// h251Leaves returns the leaf pages of the file at path whose keys all
// have prefix and length n, in key order (bbolt's leaf page: a 16-byte
// header, id, flags, count; then 16-byte elements, flags, pos, ksize,
// vsize, each key pos bytes past its element).
func h251Leaves(t *testing.T, path string, pageSize int, prefix []byte, n int) []h251Leaf {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []h251Leaf
	for off := 2 * pageSize; off+pageSize <= len(data); off += pageSize {
		p := data[off : off+pageSize]
		if binary.LittleEndian.Uint16(p[8:]) != 0x02 {
			continue
		}
		count := int(binary.LittleEndian.Uint16(p[10:]))
		leaf := h251Leaf{id: binary.LittleEndian.Uint64(p)}
		for i := range count {
			el := 16 + 16*i
			pos, ksize := int(binary.LittleEndian.Uint32(p[el+4:])), int(binary.LittleEndian.Uint32(p[el+8:]))
			if el+pos+ksize > len(p) {
				leaf.keys = nil
				break
			}
			k := p[el+pos : el+pos+ksize]
			if len(k) != n || !bytes.HasPrefix(k, prefix) {
				leaf.keys = nil
				break
			}
			leaf.keys = append(leaf.keys, slices.Clone(k))
		}
		if len(leaf.keys) > 0 {
			leaves = append(leaves, leaf)
		}
	}
	slices.SortFunc(leaves, func(a, b h251Leaf) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	return leaves
}

// TestH251GetAfterARecoveredPanicInTheSameBucket: a Get whose seek
// panicked on a damaged leaf (its page type flipped), recovered by the
// read itself, left the bucket's shared cursor where the panic stopped
// it, while the view still took it to be at the key of the Get before.
// A later Get of a key one step from that key stepped from the wrong
// place and answered nil for a key stored in a sound page, in the same
// read and in the next read of the pooled transaction: an acknowledged
// value read as missing. Every Get after the panic must answer as a
// fresh read does: the value for the keys of the sound pages.
func TestH251GetAfterARecoveredPanicInTheSameBucket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	opts := Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		// No background apply, which would end the pooled read between
		// the reads (Quiesce).
		Hooks: Hooks{HoldApplier: true},
	}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := Path{[]byte("threads"), []byte("t"), []byte("cp")}
	key := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte("k"), uint32(i)) }
	val := func(k []byte) []byte { return append(bytes.Repeat([]byte{'v'}, 40), k...) }
	const n = 3000 // dozens of leaf pages under one branch page
	if err := do(e, &Op{Apply: func(w Writer) error {
		for i := range n {
			if err := w.Put(p, key(i), val(key(i))); err != nil {
				return err
			}
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	applyLog(t, e)
	defer e.Close()
	leaves := h251Leaves(t, path, os.Getpagesize(), []byte("k"), 5)
	if len(leaves) < 4 || len(leaves[0].keys) < 8 {
		t.Fatalf("%d leaf pages of the bucket, want several of several keys", len(leaves))
	}
	// The third leaf's page type is flipped under the open store (its
	// Open's page check refuses such a file; bbolt's map is the file's
	// pages): a seek into it panics (bbolt's page check), every other
	// leaf is sound.
	bad := leaves[2]
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x00, 0x00}, int64(bad.id)*int64(os.Getpagesize())+8); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	a := leaves[0].keys
	recovered := func(r Reader, k []byte) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		r.Get(p, k)
		return false
	}
	check := func(what string, r Reader, k []byte) {
		t.Helper()
		if got := r.Get(p, k); !bytes.Equal(got, val(k)) {
			t.Errorf("%s: Get(%x) = %q, want %q (its leaf is sound)", what, k, got, val(k))
		}
	}
	ctx := context.Background()
	var first *BoltView
	if err := e.View(ctx, func(r Reader) error {
		if v, ok := r.(*BoltView); ok {
			first = v
		}
		check("before the panic", r, a[0])
		if !recovered(r, bad.keys[0]) {
			return fmt.Errorf("a Get of a key of the damaged leaf did not panic")
		}
		check("in the read that recovered the panic", r, a[2])
		if !recovered(r, bad.keys[1]) {
			return fmt.Errorf("a Get of a key of the damaged leaf did not panic")
		}
		check("in the read that recovered the panic, a step back", r, a[1])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.View(ctx, func(r Reader) error {
		if v, ok := r.(*BoltView); !ok || v != first {
			t.Log("the second read did not reuse the first one's pooled read")
		}
		if !recovered(r, bad.keys[0]) {
			return fmt.Errorf("a Get of a key of the damaged leaf did not panic")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.View(ctx, func(r Reader) error {
		for _, k := range slices.Concat(a[3:6], leaves[1].keys[:3], leaves[3].keys[:3]) {
			check("in a later read of the pooled transaction", r, k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestH251WalkForgetsAfterACallbackRecoveredAPanic: a walk over every
// thread whose callback recovers, itself, a panic raised in a walk of its
// own (the store's Stats and Verify go on past a damaged thread so) left
// the inner walk counted under way (depth): for the rest of that read no
// walk was outermost, and none forgot what its callbacks opened: a Stats
// of a damaged file of many threads kept every thread's buckets open
// after the damaged one, past the bound (maxWalkBytes).
func TestH251WalkForgetsAfterACallbackRecoveredAPanic(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks:    Hooks{HoldApplier: true, WalkBytes: 1}, // every callback forgets
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	threads, cp := []byte("threads"), []byte("cp")
	const n = 8
	if err := do(e, &Op{Apply: func(w Writer) error {
		for i := range n {
			if err := w.Put(Path{threads, fmt.Appendf(nil, "t%d", i), cp}, []byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	applyLog(t, e)
	err = e.View(context.Background(), func(r Reader) error {
		bv, ok := r.(*BoltView)
		if !ok {
			return fmt.Errorf("the read is a %T, not a view of bbolt alone", r)
		}
		seen := 0
		err := r.Buckets(Path{threads}, nil, func(name []byte) error {
			seen++
			p := Path{threads, name, cp}
			if string(name) == "t0" {
				// The damaged thread: its walk panics, the callback goes on.
				func() {
					defer func() { _ = recover() }()
					_ = r.Scan(p, nil, nil, false, func(k, v []byte) error { panic("a damaged page") })
				}()
				return nil
			}
			if got := string(r.Get(p, []byte("k"))); got != "v" {
				t.Errorf("thread %s reads %q, want %q", name, got, "v")
			}
			return nil
		})
		if err != nil {
			return err
		}
		if seen != n {
			t.Errorf("the walk met %d threads, want %d", seen, n)
		}
		kept := openUnder(bv, cp)
		if kept > 1 {
			t.Errorf("after a walk whose every callback forgets, the read keeps %d threads' buckets open, want at most the damaged one's", kept)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
