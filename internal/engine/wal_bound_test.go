package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The log's bound (maxLog, 64 MiB; Hooks.MaxLog lowers it here): past it
// the commit loop applies every group itself and the next record starts a
// new pass from the file's beginning, although the applier never got the
// log done by itself (a steady stream of writes; here it is held, or runs
// beside). No test crossed the bound before: 64 MiB of writes took 68 s.
// The run mixes records of a few KB with some larger than the bound (the
// file grows past it, and goes back at the next pass: Log.Shrink).
//
// At each of the log's fsyncs every image a power cut may leave must open
// with every write acknowledged (crashLog; what bbolt holds durably is
// read from its mark in each commit), a kill after every tenth write (the
// files as they are; with the applier held, bbolt's is not written
// between ops) must open with every write, the file must stay within the
// bound (and one record past it), and with the applier held bbolt must
// have taken the log as often as the bound says.
func TestLogPastItsBoundStartsAgain(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{true, false} {
		t.Run(fmt.Sprintf("applierHeld=%v", held), func(t *testing.T) {
			t.Parallel()
			testLogPastItsBound(t, held)
		})
	}
}

func testLogPastItsBound(t *testing.T, held bool) {
	const (
		step  = 8 << 10  // the log's growth step
		bound = 64 << 10 // the log's bound
		big   = 80 << 10 // a value larger than the bound
		n     = 80
	)
	path := filepath.Join(t.TempDir(), "b.db")
	c := &crashLog{t: t, path: path + "-wal"}
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	applies := 0 // bbolt commits that took more of the log
	commit := func(tx *bolt.Tx) error {
		gen := mark.appliedTx(tx)
		if err := tx.Commit(); err != nil {
			return err
		}
		c.mu.Lock()
		if gen > c.applied {
			c.applied = gen
			applies++
		}
		c.mu.Unlock()
		return nil
	}
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal", Mark: mark, Observer: nopObserver{},
		Hooks: Hooks{SyncLog: c.sync, CommitBolt: commit, HoldApplier: held, LogGrow: step, MaxLog: bound}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if e != nil {
			_ = e.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	vals := map[string][]byte{}
	var written, kills int
	var gen uint64
	for i := range n {
		size := 1000 + rng.IntN(12<<10)
		if i%20 == 19 {
			size = big
		}
		k := fmt.Sprintf("k%03d", i%40) // keys written again: bbolt's values change
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), v) }}); err != nil {
			t.Fatalf("put %d (%d bytes): %v", i, size, err)
		}
		vals[k], written, gen = v, written+size, gen+1
		c.mu.Lock()
		c.acked = gen
		c.mu.Unlock()
		// Within the bound, the record that crossed it and its proof (up to
		// a 4 KiB boundary), and a growth step or two; a value larger than
		// the bound makes its one record longer.
		if fi, err := os.Stat(c.path); err != nil {
			t.Fatal(err)
		} else if limit := int64(bound + max(size, 12<<10) + 3*step + 8<<10); fi.Size() > limit {
			t.Errorf("after put %d (%d bytes): the log is %d bytes, want at most %d (bound %d)", i, size, fi.Size(), limit, bound)
		}
		if held && i%10 == 9 {
			kills++
			cp := crashCopyFiles(t, path, filepath.Join(t.TempDir(), fmt.Sprintf("kill%d", i)), nil)
			ko := opts
			ko.LogPath, ko.Hooks = cp+"-wal", Hooks{}
			k, err := Open(cp, ko)
			if err != nil {
				t.Fatalf("Open after a kill at put %d (log %d bytes): %v", i, len(readFile(t, c.path)), err)
			}
			for key, want := range vals {
				if got := readKey(t, k, key); got != string(want) {
					t.Errorf("after a kill at put %d: %s holds %d bytes, want %d", i, key, len(got), len(want))
				}
			}
			if err := k.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	// A held applier leaves the bound as the only way for bbolt to take
	// the log (and the log to start again): at least once per bound's
	// worth of records.
	c.mu.Lock()
	images, reordered, applied := c.images, c.reordered, applies
	c.mu.Unlock()
	if want := written/(bound+big) - 1; held && applied < want {
		t.Errorf("bbolt took the log %d times over %d bytes of values, want at least %d", applied, written, want)
	}
	if images == 0 {
		t.Error("no power-cut image was checked")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = nil
	ro := opts
	ro.Hooks = Hooks{}
	r, err := Open(path, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for key, want := range vals {
		if got := readKey(t, r, key); got != string(want) {
			t.Errorf("after Close and Open: %s holds %d bytes, want %d", key, len(got), len(want))
		}
	}
	t.Logf("held %v: %d puts, %d bytes, bbolt took the log %d times, %d power-cut images (%d reordered), %d kills",
		held, n, written, applied, images, reordered, kills)
}
