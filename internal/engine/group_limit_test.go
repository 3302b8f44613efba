package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testRecordLimit is the log's record limit in these tests (Hooks), in
// place of 4 GiB: groups pass it with values of a few hundred kilobytes.
const testRecordLimit = 1 << 20

func openLimitedEngine(t *testing.T, path string, limit uint64) *Engine {
	t.Helper()
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks:    Hooks{MaxRecordBody: limit},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func putValue(k string, v []byte) *Op {
	return &Op{Ctx: context.Background(), Done: make(chan error, 1),
		Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), v) }}
}

// checkValues reopens the file with the log's real limit and reads every
// key of want back.
func checkValues(t *testing.T, path string, want map[string][]byte) {
	t.Helper()
	e := openLimitedEngine(t, path, 0)
	defer e.Close()
	err := e.View(context.Background(), func(r Reader) error {
		for k, v := range want {
			if got := r.Get(testBucket, []byte(k)); !bytes.Equal(got, v) {
				return fmt.Errorf("%s: %d bytes read back, want %d", k, len(got), len(v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Each op of a group is within the log's record limit, their sum is not:
// the commit loop put them in one group, Append refused the group, and
// the store failed (every write after it too) though each write alone was
// legal. The group is cut before the op that would pass the limit, which
// starts the next one: every op is acknowledged, the store goes on, and
// everything reads back after a reopen. An op over the limit by itself
// fails alone, with the limit in its error, and nothing of it stays.
func TestGroupPastTheRecordLimitIsCut(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	e := openLimitedEngine(t, path, testRecordLimit)
	rng := rand.New(rand.NewPCG(3, 4))
	value := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	want := map[string][]byte{}
	var group []*Op
	for i := range 7 { // 7 x 300 KB: three groups
		k := fmt.Sprint("k", i)
		want[k] = value(300 << 10)
		group = append(group, putValue(k, want[k]))
	}
	tooBig := putValue("huge", value(testRecordLimit+1))
	group = append(group[:3], append([]*Op{tooBig}, group[3:]...)...)
	small := putValue("small", []byte("v"))
	want["small"] = []byte("v")
	group = append(group, small)
	// One group, built by the commit loop itself (a solo op runs there).
	if err := do(e, &Op{Solo: func() error { e.commitGroup(group); return nil }}); err != nil {
		t.Fatal(err)
	}
	for i, op := range group {
		err := <-op.Done
		switch {
		case op == tooBig:
			if err == nil || !strings.Contains(err.Error(), "limit") {
				t.Errorf("op %d over the limit by itself: %v, want the limit's error", i, err)
			}
		case err != nil:
			t.Errorf("op %d: %v", i, err)
		}
	}
	if err := e.Failed(); err != nil {
		t.Fatalf("store failed: %v", err)
	}
	if err := do(e, put("after")); err != nil {
		t.Fatalf("a write after: %v", err)
	}
	want["after"] = []byte("v")
	if err := e.View(context.Background(), func(r Reader) error {
		if r.Has(testBucket, []byte("huge")) {
			return fmt.Errorf("the refused op's key is stored")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	checkValues(t, path, want)
}

// Concurrent writers whose writes, gathered into groups by the commit
// loop, pass the record limit together: all acknowledged, the store not
// failed, everything read back after a reopen.
func TestConcurrentWritersPastTheRecordLimit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	e := openLimitedEngine(t, path, testRecordLimit)
	const writers, each = 6, 12
	var mu sync.Mutex
	want := map[string][]byte{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range each {
				v := make([]byte, 200<<10+rng.IntN(100<<10))
				for j := range v {
					v[j] = byte(rng.Uint32())
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := do(e, putValue(k, v)); err != nil {
					t.Errorf("%s: %v", k, err)
					return
				}
				mu.Lock()
				want[k] = v
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := e.Failed(); err != nil {
		t.Fatalf("store failed: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(want) != writers*each {
		t.Fatalf("%d writes acknowledged, want %d", len(want), writers*each)
	}
	checkValues(t, path, want)
}
