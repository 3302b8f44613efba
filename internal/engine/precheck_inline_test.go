package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// inlineChildEnv names the directory of damaged files a child of
// TestDamagedInlineBucketIsNeverFatal opens, one after the other.
const inlineChildEnv = "CKPT_ENGINE_DAMAGED_INLINE"

// inlineValue returns where, in data (buildPageFile's file), the root
// leaf's element for the inline bucket "small" and its value lie.
func inlineValue(t *testing.T, data []byte, m boltMeta) (elem, value, end int) {
	t.Helper()
	ps := uint64(os.Getpagesize())
	pg := data[m.root*ps:]
	for i := range uint64(binary.LittleEndian.Uint16(pg[10:])) {
		at := pageHeaderSize + i*elemSize
		e := pg[at:]
		pos, ksize, vsize := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		if string(e[pos:pos+ksize]) == "small" {
			base := int(m.root*ps + at)
			return base, base + int(pos+ksize), base + int(pos+ksize+vsize)
		}
	}
	t.Fatal("no bucket \"small\"")
	return 0, 0, 0
}

// TestDamagedInlineBucketIsNeverFatal: bytes flipped in an inline bucket
// (a bucket value with root 0 carrying a leaf page) and in its element
// in the parent page. bbolt copies an inline bucket's value to the heap
// when it is not 8-byte aligned (Bucket.openBucket), and in a race build
// its pointer checks (checkptr) make an element that points outside that
// copy a fatal error no recover catches; a read-only Open, which did not
// look at inline buckets, let such a file through to reads. Every damaged
// file, opened read-only and read-write in a child process (the race
// binary when the test runs with -race), is read in full, written and
// verified: the child never dies, and what fails fails with ErrCorrupt.
func TestDamagedInlineBucketIsNeverFatal(t *testing.T) {
	if dir := os.Getenv(inlineChildEnv); dir != "" {
		os.Exit(damagedInlineChild(dir))
	}
	t.Parallel()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	data, m := buildPageFile(t, base)
	elem, value, end := inlineValue(t, data, m)
	if value%8 == 0 {
		t.Fatalf("the inline value lies aligned (byte %d): bbolt would not copy it", value)
	}
	// Every byte of the element and the value, with a low and a high bit
	// and a random byte, and random pairs of bytes.
	rng := rand.New(rand.NewPCG(7, 22))
	type damage struct{ at, xor []int }
	var cases []damage
	for at := elem; at < end; at++ {
		for _, x := range []int{0x01, 0x80, 1 + rng.IntN(255)} {
			cases = append(cases, damage{[]int{at}, []int{x}})
		}
	}
	runs := 200
	if testing.Short() {
		runs = 40
	}
	for range runs {
		cases = append(cases, damage{[]int{value + rng.IntN(end-value), value + rng.IntN(end-value)}, []int{1 + rng.IntN(255), 1 + rng.IntN(255)}})
	}
	files := filepath.Join(dir, "damaged")
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, d := range cases {
		bad := bytes.Clone(data)
		for j, at := range d.at {
			bad[at] ^= byte(d.xor[j])
		}
		if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("%05d.db", i)), bad, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runWatchedEnv(t, "^TestDamagedInlineBucketIsNeverFatal$", inlineChildEnv+"="+files)
	last := ""
	for line := range strings.Lines(out) {
		if f, ok := strings.CutPrefix(line, "file "); ok {
			last = strings.TrimSpace(f)
		}
	}
	if err != nil || !strings.Contains(out, "all done") {
		d := "?"
		var i int
		if _, serr := fmt.Sscanf(last, "%05d.db", &i); serr == nil && i < len(cases) {
			d = fmt.Sprintf("bytes %v (element at %d, value %d-%d) xor %#x", cases[i].at, elem, value, end, cases[i].xor)
		}
		t.Fatalf("child died on %s (%s): %v\n%s", last, d, err, tail(out, 30))
	}
	if strings.Contains(out, "BAD") {
		t.Fatalf("child:\n%s", out)
	}
}

// damagedInlineChild opens each file in dir read-only, then read-write,
// reads every bucket (nested ones too), verifies, and writes, printing
// each file's name first; BAD marks an error that is not ErrCorrupt.
func damagedInlineChild(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Println("BAD", err)
		return 0
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fmt.Println("file", e.Name())
		for _, ro := range []bool{true, false} {
			fmt.Println("step open, read-only", ro)
			db, f, err := OpenBolt(path, &bolt.Options{ReadOnly: ro, Timeout: time.Second})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					fmt.Println("BAD open:", err)
				}
				continue
			}
			fmt.Println("step read")
			errs := []error{GuardedView(db, "read", func(tx *bolt.Tx) error { return readAll(tx) })}
			fmt.Println("step verify")
			errs = append(errs, GuardedView(db, "verify", func(tx *bolt.Tx) error { return TouchAll(tx, path) }))
			if !ro {
				fmt.Println("step write")
				errs = append(errs, GuardedUpdate(db, "write", func(tx *bolt.Tx) error {
					return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return b.Put([]byte("k2"), []byte("w")) })
				}))
			}
			panicked := false
			for _, err := range errs {
				panicked = panicked || FromPanic(err)
				if err != nil && !errors.Is(err, ErrCorrupt) {
					fmt.Println("BAD:", err)
				}
			}
			if panicked {
				_ = AbandonBolt(db, f)
			} else {
				_ = db.Close()
			}
		}
	}
	fmt.Println("all done")
	return 0
}

// readAll reads every key and value of tx, nested buckets included.
func readAll(tx *bolt.Tx) error {
	var sum byte
	var walk func(b *bolt.Bucket, depth int) error
	walk = func(b *bolt.Bucket, depth int) error {
		if depth > maxBucketDepth {
			return fmt.Errorf("%w: too deep", ErrCorrupt)
		}
		return b.ForEach(func(k, v []byte) error {
			sum ^= touch(k) ^ touch(v)
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return walk(sub, depth+1)
				}
			}
			return nil
		})
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b, 1) })
	touched.Store(uint32(sum))
	return err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
