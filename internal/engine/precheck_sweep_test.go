package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// buildSweepFile writes a bbolt file with a deeper tree than buildPageFile:
// nested buckets (some inline), branch pages over two levels, values with
// overflow pages, and pages freed by deletes and rewrites, so that pages
// name pages both before and after themselves in the file.
func buildSweepFile(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 6 {
		err = db.Update(func(tx *bolt.Tx) error {
			for b := range 8 {
				top, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "top-%d", b))
				if err != nil {
					return err
				}
				for i := range 150 {
					v := bytes.Repeat([]byte{byte(i)}, 20+rng.IntN(300))
					if rng.IntN(60) == 0 {
						v = bytes.Repeat([]byte{'x'}, 5000+rng.IntN(12000)) // overflow
					}
					if err := top.Put(fmt.Appendf(nil, "k-%d-%05d", round, rng.IntN(4000)), v); err != nil {
						return err
					}
				}
				sub, err := top.CreateBucketIfNotExists(fmt.Appendf(nil, "sub-%d", round%3))
				if err != nil {
					return err
				}
				for i := range 2 + round*b*4 { // small ones stay inline
					if err := sub.Put(fmt.Appendf(nil, "s-%05d", rng.IntN(2000)), bytes.Repeat([]byte{'s'}, 60)); err != nil {
						return err
					}
					_ = i
				}
				c := top.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v != nil && rng.IntN(5) == 0 {
						if err := c.Delete(); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// openCheck returns a pageCheck on path, its meta read, ready to check.
func openCheck(t *testing.T, path string) (*pageCheck, boltMeta) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil || !ok {
		t.Fatalf("meta: %v %v", ok, err)
	}
	return c, m
}

// TestSweepMatchesWalkOnSoundFiles: on files bbolt wrote, the sweep passes
// (so a sound file never pays the walk's reads) and leaves the same pages
// seen as the walk, which the freelist check then relies on.
func TestSweepMatchesWalkOnSoundFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	buildPageFile(t, filepath.Join(dir, "page.db"))
	buildSweepFile(t, filepath.Join(dir, "sweep.db"))
	for _, name := range []string{"page.db", "sweep.db"} {
		path := filepath.Join(dir, name)
		sw, m := openCheck(t, path)
		sw.hwm, sw.seen = m.hwm, make([]uint64, (m.hwm+63)/64)
		if !sw.sweep(m.root) {
			t.Fatalf("%s: the sweep gave up on a sound file", name)
		}
		wk, _ := openCheck(t, path)
		wk.hwm, wk.seen = m.hwm, make([]uint64, (m.hwm+63)/64)
		if err := wk.walk(m.root); err != nil {
			t.Fatalf("%s: walk: %v", name, err)
		}
		if !slices.Equal(sw.seen, wk.seen) {
			t.Fatalf("%s: the sweep and the walk saw different pages", name)
		}
		if err := CheckPages(sw.f); err != nil {
			t.Fatalf("%s: CheckPages: %v", name, err)
		}
	}
}

// damageable opens the file at path (size bytes) for writing, and returns
// it with a check of it: CheckPages's, or the walk's alone (noSweep).
func damageable(t *testing.T, path string, size int) (*os.File, func(noSweep bool) error) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func(noSweep bool) error {
		c := &pageCheck{f: f, size: uint64(size), noSweep: noSweep}
		mm, ok, err := c.meta()
		if err != nil || !ok {
			t.Fatalf("meta: %v %v", ok, err)
		}
		return c.check(mm)
	}
}

// TestSweepNeverPassesWhatTheWalkRefuses: damage every header field and
// element of every page, one bit at a time (and some whole page ids named
// elsewhere: cycles, pages named twice): CheckPages, with its sweep, gives
// exactly the walk's answer, error text included, on every variant.
//
// Not parallel: its CPU beside the parallel tests widened a latent race in
// TestNoSyncGroupIsSyncedByFlush (it reads the commit loop's wal counters
// unsynchronized) enough to trip -race in the full suite.
func TestSweepNeverPassesWhatTheWalkRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	data := buildSweepFile(t, path)
	_, m := openCheck(t, path)
	ps := uint64(os.Getpagesize())
	f, check := damageable(t, path, len(data))
	errText := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		return err.Error()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	variants, refused := 0, 0
	try := func(at uint64, b []byte) {
		t.Helper()
		if _, err := f.WriteAt(b, int64(at)); err != nil {
			t.Fatal(err)
		}
		want, got := check(true), check(false)
		if _, err := f.WriteAt(data[at:at+uint64(len(b))], int64(at)); err != nil {
			t.Fatal(err)
		}
		variants++
		if want != nil {
			refused++
		}
		if errText(want) != errText(got) {
			t.Fatalf("damage at byte %d: walk %q, CheckPages %q", at, errText(want), errText(got))
		}
	}
	var ids []uint64 // some page ids to name
	for p := uint64(2); p < m.hwm; p++ {
		flags := binary.LittleEndian.Uint16(data[p*ps+8:])
		if binary.LittleEndian.Uint64(data[p*ps:]) == p && flags&(branchPageFlag|leafPageFlag) != 0 {
			ids = append(ids, p)
		}
	}
	// The pages the tree reaches, in a sample: damage elsewhere is not read.
	// Eight besides the root and the freelist; three under -race (CI runs
	// this package only there, where this test runs alone, not parallel,
	// and each of its 480 variants walks the file twice: the same checks
	// on more pages of the same shapes); CKPT_SWEEP_PAGES for more.
	sample := 8
	if raceEnabled {
		sample = 3
	}
	if n, err := strconv.Atoi(os.Getenv("CKPT_SWEEP_PAGES")); err == nil && n > 0 {
		sample = n
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	// A branch page among them (its page ids named twice, cycles: below).
	if i := slices.IndexFunc(ids, func(p uint64) bool {
		return binary.LittleEndian.Uint16(data[p*ps+8:]) == branchPageFlag
	}); i >= sample {
		ids[sample-1], ids[i] = ids[i], ids[sample-1]
	}
	for _, p := range append([]uint64{m.root, m.freelist}, ids[:min(len(ids), sample)]...) {
		pg := data[p*ps : (p+1)*ps]
		// The header, and the first two elements.
		for off := uint64(0); off < pageHeaderSize+2*elemSize; off++ {
			bit := byte(1) << rng.IntN(8)
			try(p*ps+off, []byte{pg[off] ^ bit})
		}
		// A branch's first elements' page ids: another page (named twice, or a
		// cycle when it is an ancestor or the page itself).
		if binary.LittleEndian.Uint16(pg[8:]) == branchPageFlag {
			for i := range min(8, uint64(binary.LittleEndian.Uint16(pg[10:]))) {
				at := p*ps + pageHeaderSize + i*elemSize + 8
				to := ids[rng.IntN(len(ids))]
				if i == 0 {
					to = p
				}
				try(at, binary.LittleEndian.AppendUint64(nil, to))
			}
		}
	}
	if refused == 0 {
		t.Fatal("no damage was refused: the test damages nothing that matters")
	}
	t.Logf("%d variants, %d refused", variants, refused)
}

// TestCheckPagesRefusesABranchKeyOtherThanItsChildsFirst: a flipped bit
// in any byte of a branch element's key (the order kept or not) makes
// the key differ from its child page's first key, which a write relies
// on to find the child (precheck_keys.go): CheckPages refuses it,
// ErrCorrupt, with and without the sweep, with the walk's error text.
func TestCheckPagesRefusesABranchKeyOtherThanItsChildsFirst(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.db")
	data := buildSweepFile(t, path)
	c, m := openCheck(t, path)
	c.hwm, c.seen = m.hwm, make([]uint64, (m.hwm+63)/64)
	if err := c.walk(m.root); err != nil {
		t.Fatalf("walk of the sound file: %v", err)
	}
	f, check := damageable(t, path, len(data))
	ps := uint64(os.Getpagesize())
	rng := rand.New(rand.NewPCG(5, 6))
	tried := 0
	for p := uint64(2); p < m.hwm && tried < 200; p++ {
		pg := data[p*ps : (p+1)*ps]
		if c.seen[p/64]&(1<<(p%64)) == 0 || binary.LittleEndian.Uint16(pg[8:]) != branchPageFlag {
			continue
		}
		for i := range min(4, int(binary.LittleEndian.Uint16(pg[10:]))) {
			key := elemKey(pg, i)
			if len(key) == 0 {
				continue
			}
			at := p*ps + uint64(pageHeaderSize+i*elemSize) + uint64(binary.LittleEndian.Uint32(pg[pageHeaderSize+i*elemSize:])) + uint64(rng.IntN(len(key)))
			if _, err := f.WriteAt([]byte{data[at] ^ byte(1)<<rng.IntN(8)}, int64(at)); err != nil {
				t.Fatal(err)
			}
			walked, swept := check(true), check(false)
			if _, err := f.WriteAt(data[at:at+1], int64(at)); err != nil {
				t.Fatal(err)
			}
			tried++
			if !errors.Is(swept, ErrCorrupt) || walked == nil || walked.Error() != swept.Error() {
				t.Fatalf("branch page %d, element %d's key flipped at byte %d: CheckPages %v, the walk %v; want ErrCorrupt from both", p, i, at, swept, walked)
			}
		}
	}
	if tried == 0 {
		t.Fatal("no branch page reached")
	}
	if err := check(false); err != nil {
		t.Fatalf("the file restored: %v", err)
	}
	t.Logf("%d keys flipped", tried)
}

// elemKey is the key of element i of page p (a branch or leaf page), or
// nil if it lies outside the page.
func elemKey(p []byte, i int) []byte {
	at := pageHeaderSize + i*elemSize
	if at+elemSize > len(p) {
		return nil
	}
	var pos, ksize int
	switch binary.LittleEndian.Uint16(p[8:]) {
	case branchPageFlag:
		pos, ksize = int(binary.LittleEndian.Uint32(p[at:])), int(binary.LittleEndian.Uint32(p[at+4:]))
	case leafPageFlag:
		pos, ksize = int(binary.LittleEndian.Uint32(p[at+4:])), int(binary.LittleEndian.Uint32(p[at+8:]))
	default:
		return nil
	}
	if at+pos+ksize > len(p) {
		return nil
	}
	return p[at+pos : at+pos+ksize]
}
