package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactCycleChildEnv names the file a child of
// TestCompactRefusesABucketCycle compacts.
const compactCycleChildEnv = "CKPT_ENGINE_COMPACT_CYCLE"

// TestCompactRefusesABucketCycle: a nested bucket whose root is the page
// of the bucket that holds it (a bucket cycle, which writes on a damaged
// file can leave after the Open's page check passed: the h31-wdmg hunt,
// seed 50547, a branch key of a thread damaged, writes without the log,
// then Compact) makes the compaction's copy ErrCorrupt, not a walk that
// recurses for ever. The damage is made under the open DB (its map shows
// the file), after OpenBolt's check; the copy runs in a child process,
// killed if it runs long or grows past 512 MB.
//
// And a page of the tree typed neither branch nor leaf (0x10, a freelist
// page's type, as a page freed and reused while still named leaves it: the
// same hunt, seed 53455), whose bytes bbolt's cursor reads as a branch
// naming the page above it: the page check reports the type, not a cycle,
// and the copy must refuse that too.
func TestCompactRefusesABucketCycle(t *testing.T) {
	if path := os.Getenv(compactCycleChildEnv); path != "" {
		if os.Getenv(compactCycleModeEnv) == "type" {
			os.Exit(compactTypeChild(path))
		}
		os.Exit(compactCycleChild(path))
	}
	t.Parallel()
	for _, mode := range []string{"cycle", "type"} {
		path := filepath.Join(t.TempDir(), "cycle.db")
		out, err := runWatchedEnv(t, "^TestCompactRefusesABucketCycle$", compactCycleChildEnv+"="+path, compactCycleModeEnv+"="+mode)
		if err != nil {
			t.Fatalf("%s: child: %v\n%s", mode, err, out)
		}
		if !strings.Contains(out, "copy: corrupt: ") {
			t.Fatalf("%s: want the copy to be ErrCorrupt, got:\n%s", mode, out)
		}
	}
}

// compactCycleModeEnv says which damage the child makes: "type"
// (compactTypeChild), else a bucket cycle (compactCycleChild).
const compactCycleModeEnv = "CKPT_ENGINE_COMPACT_CYCLE_MODE"

// compactTypeChild writes a file with bucket "outer" of 300 keys (its root
// a branch page), opens it, retypes the root's first child 0x10 with one
// element naming the root, and copies the DB as Compact does. It prints
// what happened.
func compactTypeChild(path string) int {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Println("build:", err)
		return 1
	}
	err = db.Update(func(tx *bolt.Tx) error {
		outer, _ := tx.CreateBucket([]byte("outer"))
		for i := range 300 {
			_ = outer.Put(fmt.Appendf(nil, "key-%04d", i), bytes.Repeat([]byte{'v'}, 100))
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		fmt.Println("build:", err)
		return 1
	}
	src, f, err := OpenBolt(path, &bolt.Options{Timeout: time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer func() { _ = src.Close() }()
	var root uint64
	_ = src.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("outer")).Root())
		return nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println("read:", err)
		return 1
	}
	ps := uint64(os.Getpagesize())
	if binary.LittleEndian.Uint16(data[root*ps+8:]) != 0x01 {
		fmt.Println("outer's root is not a branch page")
		return 1
	}
	child := binary.LittleEndian.Uint64(data[root*ps+pageHeaderSize+8:])
	hdr := make([]byte, pageHeaderSize+elemSize)
	copy(hdr, data[child*ps:])
	binary.LittleEndian.PutUint16(hdr[8:], 0x10) // type
	binary.LittleEndian.PutUint16(hdr[10:], 1)   // count
	binary.LittleEndian.PutUint64(hdr[pageHeaderSize+8:], root)
	if _, err := f.WriteAt(hdr, int64(child*ps)); err != nil {
		fmt.Println("damage:", err)
		return 1
	}
	dst, err := bolt.Open(path+".compact", 0o600, nil)
	if err != nil {
		fmt.Println("open dst:", err)
		return 1
	}
	defer func() { _ = dst.Close() }()
	err = Guard("compact: copy", func() error {
		return copyLive(context.Background(), dst, src, path, nil, func(string) {})
	})
	switch {
	case errors.Is(err, ErrCorrupt):
		fmt.Println("copy: corrupt:", err)
	default:
		fmt.Println("copy:", err)
	}
	return 0
}

// compactCycleChild writes a file with bucket "outer" holding bucket
// "inner" (both on pages of their own), opens it, points inner's root at
// outer's page, and copies the DB as Compact does. It prints what
// happened.
func compactCycleChild(path string) int {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Println("build:", err)
		return 1
	}
	err = db.Update(func(tx *bolt.Tx) error {
		outer, _ := tx.CreateBucket([]byte("outer"))
		inner, _ := outer.CreateBucket([]byte("inner"))
		for i := range 100 {
			_ = outer.Put(fmt.Appendf(nil, "a-%03d", i), bytes.Repeat([]byte{'o'}, 10))
			_ = inner.Put(fmt.Appendf(nil, "k-%03d", i), bytes.Repeat([]byte{'i'}, 30))
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		fmt.Println("build:", err)
		return 1
	}
	src, f, err := OpenBolt(path, &bolt.Options{Timeout: time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer func() { _ = src.Close() }()
	// Find outer's root page and inner's bucket header in it.
	var outerRoot, innerRoot uint64
	_ = src.View(func(tx *bolt.Tx) error {
		outerRoot = uint64(tx.Bucket([]byte("outer")).Root())
		innerRoot = uint64(tx.Bucket([]byte("outer")).Bucket([]byte("inner")).Root())
		return nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println("read:", err)
		return 1
	}
	ps := uint64(os.Getpagesize())
	var header int64 = -1
	var find func(id uint64)
	find = func(id uint64) {
		pg := data[id*ps:]
		flags, count := binary.LittleEndian.Uint16(pg[8:]), int(binary.LittleEndian.Uint16(pg[10:]))
		for i := range count {
			e := pg[pageHeaderSize+i*elemSize:]
			if flags == 0x01 {
				find(binary.LittleEndian.Uint64(e[8:]))
				continue
			}
			pos, ksize := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:])
			if string(e[pos:pos+ksize]) == "inner" {
				header = int64(id*ps) + int64(pageHeaderSize+i*elemSize) + int64(pos+ksize)
				if outerRoot != id {
					// The cycle wants inner's root to be the page that
					// names it.
					outerRoot = id
				}
			}
		}
	}
	find(outerRoot)
	if header < 0 || innerRoot == 0 || binary.LittleEndian.Uint64(data[header:]) != innerRoot {
		fmt.Println("no header of inner found")
		return 1
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], outerRoot)
	if _, err := f.WriteAt(b[:], header); err != nil {
		fmt.Println("damage:", err)
		return 1
	}
	dst, err := bolt.Open(path+".compact", 0o600, nil)
	if err != nil {
		fmt.Println("open dst:", err)
		return 1
	}
	defer func() { _ = dst.Close() }()
	err = Guard("compact: copy", func() error {
		return copyLive(context.Background(), dst, src, path, nil, func(string) {})
	})
	switch {
	case errors.Is(err, ErrCorrupt):
		fmt.Println("copy: corrupt:", err)
	default:
		fmt.Println("copy:", err)
	}
	return 0
}
