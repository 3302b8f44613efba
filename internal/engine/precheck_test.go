package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damagedPageChildEnv names the damaged file a child of
// TestOpenRefusesDamagedPageHeaders opens.
const damagedPageChildEnv = "CKPT_ENGINE_DAMAGED_PAGE"

// buildPageFile writes a small bbolt file with a branch page (bucket "b"
// of 300 keys), a leaf page with overflow (bucket "big", one 20 KiB
// value), an inline bucket ("small") and freed pages, and returns its
// bytes and current meta.
func buildPageFile(t *testing.T, path string) ([]byte, boltMeta) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		for i := range 300 {
			_ = b.Put(fmt.Appendf(nil, "key-%04d", i), bytes.Repeat([]byte{'v'}, 100))
		}
		big, _ := tx.CreateBucket([]byte("big"))
		_ = big.Put([]byte("k"), bytes.Repeat([]byte{'x'}, 20<<10))
		small, _ := tx.CreateBucket([]byte("small"))
		return small.Put([]byte("k"), []byte("v"))
	})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error { // frees pages
			for i := range 100 {
				_ = tx.Bucket([]byte("b")).Delete(fmt.Appendf(nil, "key-%04d", i))
			}
			return nil
		})
	}
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &pageCheck{f: f, size: uint64(len(data))}
	m, ok, err := c.meta()
	if err != nil || !ok {
		t.Fatalf("meta: %v %v", ok, err)
	}
	return data, m
}

// bucketRoot returns the root page of top-level bucket name.
func bucketRoot(t *testing.T, data []byte, m boltMeta, name string) uint64 {
	t.Helper()
	ps := uint64(os.Getpagesize())
	pg := data[m.root*ps:]
	for i := range uint64(binary.LittleEndian.Uint16(pg[10:])) {
		e := pg[pageHeaderSize+i*elemSize:]
		pos, ksize := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:])
		k := e[pos : pos+ksize]
		if string(k) == name {
			return binary.LittleEndian.Uint64(e[pos+ksize:])
		}
	}
	t.Fatalf("no bucket %q", name)
	return 0
}

// TestOpenRefusesDamagedPageHeaders: a read-write open of a file whose
// page headers are damaged in ways bbolt does not panic on returns
// ErrCorrupt naming the page, before any write; a read-only open of the
// same file still reads it. The worst of these (an overflow count's high
// byte flipped) made bbolt loop and allocate without end at the first
// commit that freed the page: each case runs in a child process, killed
// if it runs long or grows past 512 MB, which is how the old code fails.
func TestOpenRefusesDamagedPageHeaders(t *testing.T) {
	if path := os.Getenv(damagedPageChildEnv); path != "" {
		os.Exit(damagedPageChild(path))
	}
	t.Parallel()
	ps := uint64(os.Getpagesize())
	cases := []struct {
		name   string
		damage func(data []byte, m boltMeta, root func(string) uint64) uint64 // returns the page
	}{
		{"freelist page overflow", func(data []byte, m boltMeta, _ func(string) uint64) uint64 {
			binary.LittleEndian.PutUint32(data[m.freelist*ps+12:], 0x00ffffff) // freed at every commit
			return m.freelist
		}},
		{"leaf page overflow", func(data []byte, m boltMeta, root func(string) uint64) uint64 {
			p := root("big")
			data[p*ps+15] ^= 0x01 // 1<<24 more pages: freed when the leaf is rewritten
			return p
		}},
		{"branch page overflow", func(data []byte, m boltMeta, root func(string) uint64) uint64 {
			p := root("b")
			binary.LittleEndian.PutUint32(data[p*ps+12:], 0x00ffff00)
			return p
		}},
		{"branch child past the file", func(data []byte, m boltMeta, root func(string) uint64) uint64 {
			p := root("b")
			binary.LittleEndian.PutUint64(data[p*ps+pageHeaderSize+8:], m.hwm+1000)
			return p
		}},
		{"freelist count", func(data []byte, m boltMeta, _ func(string) uint64) uint64 {
			binary.LittleEndian.PutUint16(data[m.freelist*ps+10:], 0xffff)
			binary.LittleEndian.PutUint64(data[m.freelist*ps+pageHeaderSize:], 1<<40)
			return m.freelist
		}},
		{"freelist names a page in use", func(data []byte, m boltMeta, root func(string) uint64) uint64 {
			binary.LittleEndian.PutUint64(data[m.freelist*ps+pageHeaderSize:], root("big"))
			return m.freelist
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "d.db")
			data, m := buildPageFile(t, path)
			page := tc.damage(data, m, func(name string) uint64 { return bucketRoot(t, data, m, name) })
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runWatched(t, path)
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			want := fmt.Sprintf("page %d", page)
			if !strings.Contains(out, "rw: corrupt:") || !strings.Contains(out, want) {
				t.Fatalf("read-write open: want ErrCorrupt naming %s, got:\n%s", want, out)
			}
			if !strings.Contains(out, "ro: read ") {
				t.Fatalf("read-only open of the damaged file read nothing:\n%s", out)
			}
			if !strings.Contains(out, "ro: verify: verify: "+ErrCorrupt.Error()) {
				t.Fatalf("read-only verify: want ErrCorrupt from the walk, got:\n%s", out)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatal("the refused open changed the file")
			}
		})
	}
}

// cycleChildEnv names the file a child of
// TestReadOnlyOpenRefusesAPageCycle opens read-only and reads.
const cycleChildEnv = "CKPT_ENGINE_PAGE_CYCLE"

// TestReadOnlyOpenRefusesAPageCycle: a branch page that names itself
// (one damaged child id) made a read-only read descend for ever, the
// cursor's stack growing without end (killed at 512 MB on the old code).
// A read-only open refuses such a file with ErrCorrupt naming the page;
// so does a read-write one.
func TestReadOnlyOpenRefusesAPageCycle(t *testing.T) {
	if path := os.Getenv(cycleChildEnv); path != "" {
		for _, ro := range []bool{true, false} {
			db, _, err := OpenBolt(path, &bolt.Options{ReadOnly: ro, Timeout: time.Second})
			if err != nil {
				fmt.Printf("open (read-only %v): %v\n", ro, err)
				continue
			}
			n := 0
			err = Guard("read", func() error {
				return db.View(func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { n++; return nil })
				})
			})
			fmt.Printf("read (read-only %v) %d keys: %v\n", ro, n, err)
			_ = db.Close()
		}
		os.Exit(0)
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cycle.db")
	data, m := buildPageFile(t, path)
	ps := uint64(os.Getpagesize())
	p := bucketRoot(t, data, m, "b")
	binary.LittleEndian.PutUint64(data[p*ps+pageHeaderSize+8:], p) // its first child is itself
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runWatchedEnv(t, "^TestReadOnlyOpenRefusesAPageCycle$", cycleChildEnv+"="+path)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, ro := range []string{"true", "false"} {
		want := fmt.Sprintf("open (read-only %s): %s: page %d names page %d above it", ro, ErrCorrupt, p, p)
		if !strings.Contains(out, want) {
			t.Fatalf("want %q, got:\n%s", want, out)
		}
	}
}

// TestCheckPagesAcceptsSoundFiles: the check passes files bbolt wrote,
// fresh and after deletes (freed pages), and with NoFreelistSync.
func TestCheckPagesAcceptsSoundFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ok.db")
	buildPageFile(t, path)
	for _, bo := range []*bolt.Options{{Timeout: time.Second}, {Timeout: time.Second, NoFreelistSync: true}} {
		db, f, err := OpenBolt(path, bo)
		if err != nil {
			t.Fatalf("open a sound file (NoFreelistSync %v): %v", bo.NoFreelistSync, err)
		}
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("new"), []byte("v")) })
		if err == nil {
			err = checkOpened(f)
		}
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
	}
}

// damagedPageChild opens path read-write and, if that succeeds, writes
// to every bucket (each commit frees the pages it rewrites); then opens it
// read-only and reads every key. It prints what happened.
func damagedPageChild(path string) int {
	db, f, err := OpenBolt(path, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	switch {
	case errors.Is(err, ErrCorrupt):
		fmt.Println("rw: corrupt:", err)
	case err != nil:
		fmt.Println("rw: error:", err)
	default:
		werr := Guard("write", func() error {
			return db.Update(func(tx *bolt.Tx) error {
				return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return b.Put([]byte("key-0150"), []byte("w")) })
			})
		})
		fmt.Println("rw: opened; write:", werr)
		if FromPanic(werr) {
			_ = AbandonBolt(db, f)
		} else {
			_ = db.Close()
		}
	}
	db, _, err = OpenBolt(path, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		fmt.Println("ro: open:", err)
		return 0
	}
	n := 0
	err = Guard("read", func() error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { n++; return nil })
			})
		})
	})
	fmt.Printf("ro: read %d keys: %v\n", n, err)
	// Verify's order: walk the data, then bbolt's page check if that passed.
	err = db.View(func(tx *bolt.Tx) error {
		if err := TouchAll(tx, path); err != nil {
			return err
		}
		return Guard("check", func() error { return errors.Join(slices.Collect(chanSeq(tx.Check()))...) })
	})
	fmt.Println("ro: verify:", err)
	return 0
}

// runWatched runs damagedPageChild on path in a child process, killing it
// if it prints nothing for 30 s (a hang: the children print a line per
// file and step) or (where /proc tells) its resident memory passes
// 512 MB, and returns its output. The bound is on silence, not on the
// whole run (the package's -timeout bounds that):
// TestDamagedInlineBucketIsNeverFatal's one child opens, reads, verifies
// and writes 521 files under -race, and
// under a load average of 20 it was killed at its 276th file, still
// going, by a 30 s bound on the whole run; at a load average near 37 (a
// busy shared machine) by a 5-minute one, at its 468th file, still going.
func runWatched(t *testing.T, path string) (string, error) {
	return runWatchedEnv(t, "^TestOpenRefusesDamagedPageHeaders$", damagedPageChildEnv+"="+path)
}

// runWatchedEnv runs the test binary's test run with env added, watched
// as runWatched says.
func runWatchedEnv(t *testing.T, run string, env ...string) (string, error) {
	// The race binary itself (not testchild's): these few children cost
	// little, and a second package building a binary without -race on a
	// cold cache compiled the standard library again beside the root's.
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v")
	cmd.Env = append(os.Environ(), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	began := time.Now()
	printed, lastLine := 0, began
	kill := func(why string) (string, error) {
		_ = cmd.Process.Kill()
		err := <-done
		return out.String(), fmt.Errorf("%s: %w", why, err)
	}
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-tick.C:
			if rss := residentBytes(cmd.Process.Pid); rss > 512<<20 {
				return kill(fmt.Sprintf("killed at %d MB resident", rss>>20))
			}
			now := time.Now()
			if n := out.Len(); n != printed {
				printed, lastLine = n, now
			}
			if now.Sub(lastLine) > 30*time.Second {
				return kill(fmt.Sprintf("printed nothing for 30 s (after %v)", now.Sub(began).Round(time.Second)))
			}
		}
	}
}

// lockedBuffer is a bytes.Buffer a child's output is copied into while
// runWatchedEnv reads its length.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func chanSeq(ch <-chan error) func(func(error) bool) {
	return func(yield func(error) bool) {
		for e := range ch {
			if !yield(e) {
				for range ch {
				}
				return
			}
		}
	}
}

// residentBytes is process pid's resident memory from /proc (0 where
// there is no /proc).
func residentBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// nestedInlinePage is a leaf page holding an inline bucket holding an
// inline bucket ... levels deep, around an empty leaf: what bbolt never
// writes, laid out as it lays out an inline bucket (element, key, bucket
// header, leaf page).
func nestedInlinePage(levels int) []byte {
	const level = pageHeaderSize + elemSize + 1 + bucketHeaderSize
	total := levels*level + pageHeaderSize
	b := make([]byte, total)
	for i := range levels {
		o := i * level
		binary.LittleEndian.PutUint16(b[o+8:], leafPageFlag)
		binary.LittleEndian.PutUint16(b[o+10:], 1)
		e := b[o+pageHeaderSize:]
		binary.LittleEndian.PutUint32(e[0:], bucketLeafFlag)
		binary.LittleEndian.PutUint32(e[4:], elemSize) // the key follows the element
		binary.LittleEndian.PutUint32(e[8:], 1)
		binary.LittleEndian.PutUint32(e[12:], uint32(total-(o+pageHeaderSize+elemSize+1)))
		b[o+pageHeaderSize+elemSize] = 'k'
	}
	binary.LittleEndian.PutUint16(b[levels*level+8:], leafPageFlag)
	return b
}

// The page check reads inline buckets in place, once by recursion per
// level: inline buckets nested in inline buckets (which bbolt never
// writes) are ErrCorrupt past a few levels, so a forged page nesting
// millions deep cannot overflow the stack of the check every Open runs.
func TestPageCheckRefusesNestedInlineBuckets(t *testing.T) {
	t.Parallel()
	c := &pageCheck{}
	check := func(levels int) error {
		b := nestedInlinePage(levels)
		_, err := c.elements(b, 3, leafPageFlag, 1, uint64(len(b)), 0)
		return err
	}
	if err := check(1); err != nil {
		t.Fatalf("one inline bucket (as bbolt writes): %v", err)
	}
	if err := check(maxInlineNesting); err != nil {
		t.Fatalf("%d levels: %v", maxInlineNesting, err)
	}
	for _, levels := range []int{maxInlineNesting + 1, 100_000} {
		if err := check(levels); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "nested") {
			t.Errorf("%d levels: %v, want ErrCorrupt", levels, err)
		}
	}
}
