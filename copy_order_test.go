package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// TestCopyThreadDoesNotSortAwayAKeyOutOfOrder: a history-order entry
// (ids/, an empty value: no record sum covers its key) whose key a flipped
// byte moved below the entries before it, in its leaf page. On the source
// every read that walks the history meets it out of place (Thread takes
// the last entry for the newest and finds no record: ErrCorrupt).
// CopyThread wrote each key it walked into the copy's bucket, where bbolt
// sorts it into place: the copy summarised the thread with the second
// newest checkpoint as its newest, and no error (the fault hunt of
// TestH164FlipThenMaintenance, sealed, seed 7017). A copy must refuse
// (ErrCorrupt) or read as the source's damage does.
func TestCopyThreadDoesNotSortAwayAKeyOutOfOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	// Enough checkpoints that ids/ has a leaf page of its own (an inline
	// bucket can be a copy bbolt makes).
	const n = 300
	var ids [][idLen]byte
	for i := range n {
		cfg, err := s.Save(ctx, "src", map[string]any{"n": i}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		id, err := parseID("id", cfg)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	want, err := s.Thread(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Where the newest checkpoint's ids/ key lies in the file.
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketThreads).Bucket([]byte("src")).Bucket(bucketOrder)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("ids/ is missing or inline")
		}
		k, _ := b.Cursor().Last()
		if string(k) != string(orderKey(ids[n-1], "")) {
			return nil, fmt.Errorf("last ids/ key %x, want the newest checkpoint's", k)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[off:off+idLen]) != string(ids[n-1][:]) {
		t.Fatalf("offset %d does not hold the newest id", off)
	}
	// The key becomes an id no checkpoint has, below the first one.
	moved := ids[0]
	moved[idLen-1] ^= 0x01
	moved[6] = 0
	copy(data[off:], moved[:])
	s = openThenDamage(t, path, Options{}, data)
	defer s.Close()
	if _, err := s.Thread(ctx, "src"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Thread of the damaged source = %v, want ErrCorrupt", err)
	}
	err = s.CopyThread(ctx, "src", "dst", CopyOptions{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CopyThread = %v, want nil or ErrCorrupt", err)
		}
		t.Logf("CopyThread: %v", err)
		if _, err := s.Thread(ctx, "dst"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after a refused CopyThread, Thread of the copy = %v, want ErrNotFound", err)
		}
		return
	}
	got, err := s.Thread(ctx, "dst")
	switch {
	case errors.Is(err, ErrCorrupt):
	case err != nil:
		t.Errorf("Thread of the copy = %v, want ErrCorrupt or the source's summary", err)
	case got.NewestID != want.NewestID || got.Checkpoints != want.Checkpoints:
		t.Errorf("Thread of the copy: newest %s of %d checkpoints and no error, want ErrCorrupt or newest %s of %d",
			got.NewestID, got.Checkpoints, want.NewestID, want.Checkpoints)
	}
}

// bothLogModes are the store's two write paths, each NoSync: the commit
// loop with its write-ahead log, and bbolt's transactions alone (NoWAL).
// Tests of damage met by a write run in both.
var bothLogModes = []struct {
	name string
	opts Options
}{{"WAL", Options{Durability: NoSync}}, {"NoWAL", Options{NoWAL: true, Durability: NoSync}}}

// openThenDamage opens the store file at path read-write with opts, then
// writes damaged into the file under it where it differs from the file's
// bytes: a read-write Open refuses a page whose keys are out of order
// (internal/engine/precheck_keys.go), so the checks of the walks that
// write now meet such a key only when the damage comes while the store is
// open (bbolt reads the pages through its map of the file, which sees the
// write). Open commits, and bbolt writes each page it changes elsewhere:
// damage computed on the closed file is written only if each page it
// falls on is, in the file as Open left it, still reached and byte for
// byte the closed file's; otherwise the test fails (damageStale). Where
// the closed file's layout varies from run to run (a store with its log
// applies groups as timing makes them), find the damage on the file as
// Open left it instead (openThenDamageFound): reopening the same closed
// file moves the same pages again.
func openThenDamage(t *testing.T, path string, opts Options, damaged []byte) *Store {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) != len(damaged) {
		t.Fatalf("the damaged file has %d bytes, the file %d", len(damaged), len(orig))
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if moved := damageStale(orig, now, damaged); moved != "" {
		_ = s.Close()
		t.Fatal(moved + ": compute the damage on the file as Open left it (openThenDamageFound)")
	}
	writeDamage(t, path, orig, damaged)
	return s
}

// damageStale says when a byte damaged differs (past the meta pages) on a
// page that now, the file as Open left it, does not reach, or that Open's
// commit rewrote (a page freed and reused): damage computed on the closed
// file orig means something else there, or nothing.
func damageStale(orig, now, damaged []byte) string {
	w := bwWalk(now)
	if w.ps == 0 {
		return "the file as Open left it has no valid meta page"
	}
	live, wasLive := reached(w), reached(bwWalk(orig))
	for i := range orig {
		if orig[i] == damaged[i] || i < 2*w.ps {
			continue
		}
		id := i / w.ps
		if !live[id] && !wasLive[id] {
			// A free page in both files (a stale copy the test edited
			// too, as TestH182ThreadsStopAtANameOutOfPlace does every
			// copy of a name): its damage changes nothing either way.
			// Whether such a copy exists depends on how often the
			// applier rewrote the page, so this failed now and then.
			continue
		}
		lo, hi := id*w.ps, min((id+1)*w.ps, len(orig), len(now))
		switch {
		case !live[id]:
			return fmt.Sprintf("the damage at byte %d falls on page %d, which the open store's file no longer reaches (Open's commit moved what it held)", i, id)
		case hi <= lo || !bytes.Equal(orig[lo:hi], now[lo:hi]):
			return fmt.Sprintf("the damage at byte %d falls on page %d, which Open's commit rewrote", i, id)
		}
	}
	return ""
}

// reached is the set of pages the walk w reaches.
func reached(w *bwFile) map[int]bool {
	live := map[int]bool{}
	for id := range w.pages {
		live[id] = true
	}
	for _, e := range w.entries {
		for _, id := range e.pages {
			live[id] = true
		}
	}
	return live
}

// writeDamage writes into the file at path each byte where damaged
// differs from orig.
func writeDamage(t *testing.T, path string, orig, damaged []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for i := range orig {
		if orig[i] != damaged[i] {
			if _, err := f.WriteAt(damaged[i:i+1], int64(i)); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("the damaged file is the file")
	}
}

// openThenDamageFound opens the store file at path read-write with opts,
// then damages the file as Open left it: damage changes a copy of its
// bytes (found there, not on the closed file, whose pages Open's commit
// may have moved), written under the open store.
func openThenDamageFound(t *testing.T, path string, opts Options, damage func(b []byte)) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(now)
	damage(damaged)
	writeDamage(t, path, now, damaged)
	if moved := damageMoved(t, path, now, damaged); moved != "" {
		t.Fatal(moved) // a commit after Open's
	}
	return s
}

// liveIndexes returns where pat lies in the file b within the used bytes
// of the tree pages its newest meta page reaches: not in the stale copies
// a commit leaves on the pages it freed.
func liveIndexes(b, pat []byte) []int {
	w := bwWalk(b)
	var at []int
	for id, p := range w.pages {
		lo := id * w.ps
		pg := b[lo:min(lo+p.used, len(b))]
		for i := 0; ; i++ {
			j := bytes.Index(pg[i:], pat)
			if j < 0 {
				break
			}
			i += j
			at = append(at, lo+i)
		}
	}
	return at
}

// openThenDamageAnywhere is openThenDamage for the hunts, whose damage,
// drawn on the closed file, may fall on a page Open's commit freed: moved
// says so (and the case then flips a byte of a free page, which must harm
// nothing either).
func openThenDamageAnywhere(t *testing.T, path string, opts Options, damaged []byte) (_ *Store, moved string) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) != len(damaged) {
		t.Fatalf("the damaged file has %d bytes, the file %d", len(damaged), len(orig))
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	writeDamage(t, path, orig, damaged)
	return s, damageMoved(t, path, orig, damaged)
}

// openWithKeyDamage opens the store at path, read-only or with opts, and
// sets the byte at delta past the start of the key find returns to b: on
// the closed file before a read-only Open, and under a read-write store on
// the file as its Open left it (found on a copy: bbolt's lock keeps a
// second handle out), since Open's commit can move the key's page.
func openWithKeyDamage(t *testing.T, path string, ro bool, opts Options, find func(tx *bolt.Tx) ([]byte, error), delta int, b byte) *Store {
	t.Helper()
	var s *Store
	var err error
	if !ro {
		if s, err = Open(path, opts); err != nil {
			t.Fatal(err)
		}
	}
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap := path + ".snap"
	if err := os.WriteFile(snap, now, 0o600); err != nil {
		t.Fatal(err)
	}
	off := keyOffsetInFile(t, snap, find)
	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte{b}, int64(off+delta))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if ro {
		if s, err = Open(path, Options{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// damageMoved says when a byte damaged differs on a page the file, as
// the open store's Open left it, no longer reaches: Open commits (its
// marks), and bbolt writes each page it changes elsewhere, so damage
// computed on the closed file can fall on a page freed since (in a small
// file the buckets live inline in the page Open rewrites), and a test
// would pass without meeting it.
func damageMoved(t *testing.T, path string, orig, damaged []byte) string {
	t.Helper()
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bwWalk(now)
	live := map[int]bool{}
	for id := range w.pages {
		live[id] = true
	}
	for _, e := range w.entries {
		for _, id := range e.pages {
			live[id] = true
		}
	}
	for i := range orig {
		if orig[i] != damaged[i] && w.ps > 0 && !live[i/w.ps] && i >= 2*w.ps {
			return fmt.Sprintf("the damage at byte %d falls on page %d, which the open store's file no longer reaches (Open's commit moved what it held): compute the damage on the file as Open left it", i, i/w.ps)
		}
	}
	return ""
}

// openDamaged opens the store at path, whose bytes damage changed from
// clean: read-only as it is (a read-only Open reads a damaged file), and
// read-write on clean bytes with the damage written under the open store
// (openThenDamage): a read-write Open refuses a page whose keys do not
// ascend, so a write path meets such damage only when it comes later.
func openDamaged(t *testing.T, path string, opts Options, clean []byte) *Store {
	t.Helper()
	if opts.ReadOnly {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	damaged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, clean, 0o600); err != nil {
		t.Fatal(err)
	}
	return openThenDamage(t, path, opts, damaged)
}

// threadKeyOffset returns where, in the store file at path, key lies in
// the bucket sub of thread (which must have pages of its own, not be
// inline); the test fails if the key is not stored there.
func threadKeyOffset(t *testing.T, path, thread string, sub, key []byte) int {
	t.Helper()
	return keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketThreads).Bucket([]byte(thread)).Bucket(sub)
		if b == nil || b.Root() == 0 {
			return nil, fmt.Errorf("thread %q: %s/ is missing or inline", thread, sub)
		}
		k, _ := b.Cursor().Seek(key)
		if !bytes.Equal(k, key) {
			return nil, fmt.Errorf("thread %q: %s/ does not hold key %x", thread, sub, key)
		}
		return k, nil
	})
}

// threadKeyOffsetIn is threadKeyOffset in the file bytes b (read on a
// copy: bbolt's lock keeps a second handle off an open store's file).
func threadKeyOffsetIn(t *testing.T, b []byte, thread string, sub, key []byte) int {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(snap, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return threadKeyOffset(t, snap, thread, sub, key)
}

// keyOffsetInFile returns where, in the store file at path, the key that
// find returns lies (find runs in a read-only bbolt transaction and must
// return a key as a cursor gives it: a slice of the file's map, so of a
// bucket with a page of its own, not an inline one bbolt may copy).
func keyOffsetInFile(t *testing.T, path string, find func(tx *bolt.Tx) ([]byte, error)) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var off int
	err = db.View(func(tx *bolt.Tx) error {
		k, err := find(tx)
		if err == nil {
			off = int(uintptr(unsafe.Pointer(&k[0])) - db.Info().Data)
		}
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return off
}
