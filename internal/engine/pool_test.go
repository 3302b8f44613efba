package engine

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests of pooled reads (pool.go): what a read transaction kept open
// between reads must never break.

// getKey reads key k of testBucket through View, copied out.
func getKey(t *testing.T, e *Engine, k string) []byte {
	t.Helper()
	var v []byte
	if err := e.View(context.Background(), func(r Reader) error {
		v = bytes.Clone(r.Get(testBucket, []byte(k)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// within runs fn and fails the test if it has not returned after d (a
// pooled read that a writer waits for blocks it forever).
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (waits for a pooled read?)", what, d)
	}
}

// A read's transaction goes back to the pool and serves the next read; a
// pooled read is handed to one reader at a time.
func TestPooledReadIsReusedByOneReaderAtATime(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	if err := do(e, put("a")); err != nil {
		t.Fatal(err)
	}
	// Applied first: the applier's commit ends idle pooled reads, and one
	// landing after the read below left none pooled (seen once in CI).
	applyLog(t, e)
	ss := e.snapshots()
	var first *bolt.Tx
	_ = e.View(context.Background(), func(r Reader) error { first = TxOf(r); return nil })
	if ss.Pooled() != 1 {
		t.Fatalf("%d reads pooled after a read, want 1", ss.Pooled())
	}
	var second *bolt.Tx
	_ = e.View(context.Background(), func(r Reader) error { second = TxOf(r); return nil })
	if first != second {
		t.Errorf("the second read began a transaction of its own: not reused")
	}
	// Two reads at once never share a transaction.
	a, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.Tx() == b.Tx() {
		t.Errorf("two reads in use share a transaction")
	}
	ss.Release(a, true)
	ss.Release(b, true)
}

// Many readers, a writer and applies at once (run with -race): each
// reader sees every write acknowledged before its read began, and a
// pooled transaction is never used by two readers at once (the race
// detector would see two goroutines in one bbolt cursor).
func TestPooledReadsUnderManyReaders(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	const n = 300
	var mu sync.Mutex
	acked := -1 // the last value acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				want := acked
				mu.Unlock()
				var got int
				err := e.View(context.Background(), func(r Reader) error {
					// Walk the bucket too, so that a read holds a cursor a
					// while.
					_ = r.Scan(testBucket, nil, nil, false, func(k, v []byte) error { return nil })
					if v := r.Get(testBucket, []byte("n")); v != nil {
						_, err := fmt.Sscan(string(v), &got)
						return err
					}
					got = -1
					return nil
				})
				if err == nil && got < want {
					err = fmt.Errorf("read %d after %d was acknowledged", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		err := do(e, &Op{Apply: func(w Writer) error {
			if err := w.Put(testBucket, []byte("n"), fmt.Append(nil, i)); err != nil {
				return err
			}
			return w.Put(testBucket, fmt.Appendf(nil, "k%04d", i), bytes.Repeat([]byte{1}, 512))
		}})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		acked = i
		mu.Unlock()
		if i%25 == 0 {
			e.ApplyNow()
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The applier ends the idle pooled reads before it begins its write
// transaction: an idle one would keep the pages the commit frees from
// reuse (the file grows) and block a commit that must grow the map.
func TestApplyEndsIdlePooledReads(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	if err := do(e, put("a")); err != nil {
		t.Fatal(err)
	}
	applyLog(t, e) // the apply of "a" must not end the read below (as above)
	ss := e.snapshots()
	getKey(t, e, "a")
	if ss.Pooled() != 1 {
		t.Fatalf("%d reads pooled after a read, want 1", ss.Pooled())
	}
	// Enough to grow bbolt's map several times (the test's file starts
	// with bbolt's small default map): with a pooled read left open, the
	// commit would wait for it forever.
	big := bytes.Repeat([]byte{7}, 64<<10)
	for i := range 64 {
		err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, fmt.Appendf(nil, "big%02d", i), big) }})
		if err != nil {
			t.Fatal(err)
		}
	}
	within(t, 20*time.Second, "apply", func() error { e.ApplyNow(); return e.Failed() })
	if n := ss.Pooled(); n != 0 {
		t.Errorf("%d reads pooled after an apply, want 0", n)
	}
	if v := getKey(t, e, "big63"); !bytes.Equal(v, big) {
		t.Errorf("big63 reads %d bytes, want %d", len(v), len(big))
	}
}

// A read in use when a writer quiesces the pool ends when released: it
// began before the write.
func TestReadInUseAtQuiesceIsNotPooled(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	ss := e.snapshots()
	pr, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	ss.Quiesce()
	ss.Resume()
	ss.Release(pr, true)
	if n := ss.Pooled(); n != 0 {
		t.Errorf("%d reads pooled, want 0: a read older than a write went back to the pool", n)
	}
	// A read that panicked is not pooled either.
	pr, _, err = ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	ss.Release(pr, false)
	if n := ss.Pooled(); n != 0 {
		t.Errorf("%d reads pooled, want 0: a read released as unclean went back to the pool", n)
	}
}

// A pooled read lives at most maxReadAge.
func TestPooledReadAges(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	var first, second *bolt.Tx
	_ = e.View(context.Background(), func(r Reader) error { first = TxOf(r); return nil })
	time.Sleep(maxReadAge + 50*time.Millisecond)
	_ = e.View(context.Background(), func(r Reader) error { second = TxOf(r); return nil })
	if first == second {
		t.Errorf("a read pooled %v ago served another read", maxReadAge+50*time.Millisecond)
	}
}

// A read that began during an apply (before its commit) and went back to
// the pool after it holds less than the overlay once the commit loop has
// pruned: the next read must not use it (pruned > its applied), or it
// would miss what the overlay let go.
func TestPooledReadOlderThanThePruneIsDropped(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	var e *Engine
	var stale *PooledRead
	var staleErr error
	arm := false
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks: Hooks{HoldApplier: true, CommitBolt: func(tx *bolt.Tx) error {
			if arm {
				// Runs in the commit loop, during the apply's Quiesce.
				arm = false
				stale, _, staleErr = e.snapshots().Acquire(&e.dbMu, &e.db)
			}
			return tx.Commit()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ss := e.snapshots()
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("k"), []byte("new")) }}); err != nil {
		t.Fatal(err)
	}
	arm = true
	applyLog(t, e) // applies and prunes: the overlay lets "k" go
	if staleErr != nil || stale == nil {
		t.Fatalf("no read began during the apply: %v", staleErr)
	}
	ss.Release(stale, true) // after the apply's Resume: pooled
	if ss.Pooled() != 1 {
		t.Fatalf("%d reads pooled, want the stale one", ss.Pooled())
	}
	if v := getKey(t, e, "k"); string(v) != "new" {
		t.Errorf("k reads %q after its write was acknowledged and applied, want \"new\"", v)
	}
}

// Compact's swap and Close end pooled reads: bbolt's Close of the old
// handle (or of the store) waits for every read transaction.
func TestCompactAndCloseEndPooledReads(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	if err := do(e, put("a")); err != nil {
		t.Fatal(err)
	}
	applyLog(t, e) // so that Compact's solo op finds nothing to apply
	getKey(t, e, "a")
	if e.snapshots().Pooled() != 1 {
		t.Fatalf("%d reads pooled, want 1", e.snapshots().Pooled())
	}
	within(t, 20*time.Second, "compact", func() error {
		return do(e, &Op{Solo: func() error {
			_, err := e.Compact(context.Background(), nil)
			return err
		}})
	})
	if v := getKey(t, e, "a"); string(v) != "v" {
		t.Errorf("a reads %q after compaction, want \"v\"", v)
	}
	if e.snapshots().Pooled() != 1 {
		t.Errorf("%d reads pooled after a read of the compacted file, want 1", e.snapshots().Pooled())
	}
	within(t, 20*time.Second, "close", e.Close)
}

// manyBuckets writes key "k" = "v<i>" in n buckets threads/t<i>/cp and
// applies them to bbolt (a pooled read's buckets are bbolt's).
func manyBuckets(t *testing.T, e *Engine, n int) {
	t.Helper()
	for from := 0; from < n; from += 2000 {
		err := do(e, &Op{Apply: func(w Writer) error {
			for i := from; i < min(from+2000, n); i++ {
				if err := w.Put(manyPath(i), []byte("k"), fmt.Appendf(nil, "v%d", i)); err != nil {
					return err
				}
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	applyLog(t, e)
}

// manyThreadBytes is what a pooled read counts (cacheBytes) for the two
// buckets of one of manyBuckets' threads but their paths: threads/t (it
// holds a bucket: never inline) and its cp, inline (4 KiB pages).
const manyThreadBytes = 2*bucketCost + 4096/4

func manyPath(i int) Path {
	return Path{[]byte("threads"), fmt.Appendf(nil, "t%05d", i), []byte("cp")}
}

// getMany reads bucket i's key through r and checks it.
func getMany(r Reader, i int) error {
	if v, want := r.Get(manyPath(i), []byte("k")), fmt.Sprintf("v%d", i); string(v) != want {
		return fmt.Errorf("bucket %d reads %q, want %q", i, v, want)
	}
	return nil
}

// reuse releases pr to the pool and takes it back, as the next read
// would but with no regard to its age: the tests below follow one
// transaction's cache over more reads than maxReadAge may allow.
func reuse(t *testing.T, ss *Snapshots, pr *PooledRead) *PooledRead {
	t.Helper()
	ss.Release(pr, true)
	if got := ss.take(); got != pr {
		t.Fatalf("the read released is not the one pooled")
	}
	return pr
}

// A pooled read over many buckets (many threads) indexes them, and past
// maxCachedBytes forgets some between reads: every read still finds every
// key, what an idle pooled read keeps stays within the bound, and a trim
// leaves at most half of it.
func TestPooledReadOverManyBuckets(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	n := maxCachedBytes/manyThreadBytes + 100 // past the bound
	manyBuckets(t, e, n)
	ss := e.snapshots()
	pr, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ss.Release(pr, true) }() // Close waits for it
	trims, prev := 0, 0
	for round := range 2 {
		for i := range n {
			if err := getMany(pr.bv, i); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if pr.bv.Get(Path{[]byte("threads"), fmt.Appendf(nil, "t%05d", i), []byte("none")}, []byte("k")) != nil {
				t.Fatalf("round %d: a missing bucket has a key", round)
			}
			pr = reuse(t, ss, pr)
			ss.poolMu.Lock()
			counted := ss.poolBytes
			ss.poolMu.Unlock()
			if counted != 0 {
				t.Fatalf("round %d, read %d: the pool counts %d bytes of buckets with no read in it", round, i, counted)
			}
			if b := pr.bv.cacheBytes(); b > maxCachedBytes {
				t.Fatalf("round %d, read %d: an idle pooled read keeps %d bytes of buckets, bound %d", round, i, b, maxCachedBytes)
			}
			if open := len(pr.bv.open); open < prev {
				trims++
				if b := pr.bv.cacheBytes(); b > maxCachedBytes/2 {
					t.Fatalf("round %d, read %d: trimmed to %d bytes, want at most half the bound", round, i, b)
				}
			}
			prev = len(pr.bv.open)
		}
	}
	if trims == 0 {
		t.Errorf("the cache never shrank: the test does not reach the bound")
	}
}

// Past the bound a pooled read forgets the buckets it used longest ago,
// not all of them: a bucket read by every read stays open while reads
// over many others fill the cache again and again.
func TestPooledReadKeepsTheBucketsUsedLast(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	n := maxCachedBytes/manyThreadBytes + 100
	manyBuckets(t, e, n+1)
	hot := n // read by every read
	ss := e.snapshots()
	pr, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ss.Release(pr, true) }() // Close waits for it
	var hotBucket *bolt.Bucket
	trims, prev := 0, 0
	for i := range 2 * n {
		if err := getMany(pr.bv, hot); err != nil {
			t.Fatal(err)
		}
		if err := getMany(pr.bv, i%n); err != nil {
			t.Fatal(err)
		}
		pr = reuse(t, ss, pr)
		bv := pr.bv
		bv.scratch = appendPath(bv.scratch[:0], manyPath(hot))
		e := bv.find()
		if e == nil {
			t.Fatalf("read %d: the bucket every read uses was forgotten (%d buckets open)", i, len(bv.open))
		}
		if hotBucket == nil {
			hotBucket = e.b
		} else if e.b != hotBucket {
			t.Fatalf("read %d: the bucket every read uses was forgotten and opened again", i)
		}
		if len(bv.open) < prev {
			trims++
		}
		prev = len(bv.open)
	}
	if trims < 2 {
		t.Errorf("the cache shrank %d times: the test does not reach the bound twice", trims)
	}
}

// Every idle pooled read's buckets together stay within maxPooledBytes:
// readers that each read many threads at once do not each keep
// maxCachedBytes.
func TestPooledReadsBucketsBoundedTogether(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	per := maxCachedBytes * 9 / 10 / (manyThreadBytes + 40) // threads per reader, just within one read's bound
	const readers = 4                                       // more than maxPooledBytes/maxCachedBytes
	manyBuckets(t, e, readers*per)
	ss := e.snapshots()
	prs := make([]*PooledRead, 0, readers)
	defer func() { // Close waits for them
		for _, pr := range prs {
			ss.Release(pr, false)
		}
	}()
	for r := range readers {
		pr, _, err := ss.Acquire(&e.dbMu, &e.db)
		if err != nil {
			t.Fatal(err)
		}
		prs = append(prs, pr)
		for i := r * per; i < (r+1)*per; i++ {
			if err := getMany(pr.bv, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, pr := range prs {
		ss.Release(pr, true)
	}
	prs = nil
	ss.poolMu.Lock()
	defer ss.poolMu.Unlock()
	sum := 0
	for _, pr := range ss.pool {
		sum += pr.bv.cacheBytes()
		if pr.bytes != pr.bv.cacheBytes() {
			t.Errorf("a pooled read counts %d bytes, holds %d", pr.bytes, pr.bv.cacheBytes())
		}
	}
	if sum > maxPooledBytes || ss.poolBytes != sum {
		t.Errorf("%d idle pooled reads hold %d bytes of buckets (counted %d), bound %d", len(ss.pool), sum, ss.poolBytes, maxPooledBytes)
	}
	if len(ss.pool) < 2 {
		t.Errorf("%d reads pooled, want the ones that fit", len(ss.pool))
	}
}

// One read may open any number of buckets before its Release trims (a
// scan over every thread): the trim gives back the room that read grew
// (open's entries, the paths, the index), which cacheBytes does not
// count, or the idle pooled read keeps it, uncounted, while it is reused.
func TestPooledReadGivesBackTheRoomOfOneLargeRead(t *testing.T) {
	t.Parallel()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "e.db"), false)
	defer e.Close()
	n := maxRoomBuckets/2 + 5000 // two buckets a thread: past the room kept
	manyBuckets(t, e, n)
	ss := e.snapshots()
	pr, _, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ss.Release(pr, true) }() // Close waits for it
	for i := range n {
		if err := getMany(pr.bv, i); err != nil {
			t.Fatal(err)
		}
	}
	grown := cap(pr.bv.open)
	pr = reuse(t, ss, pr)
	bv := pr.bv
	if bv.cacheBytes() > maxCachedBytes/2 {
		t.Fatalf("trimmed to %d bytes, want at most %d", bv.cacheBytes(), maxCachedBytes/2)
	}
	if cap(bv.open) > maxRoomBuckets || cap(bv.keys) > maxRoomBuckets*32 {
		t.Fatalf("an idle pooled read keeps room for %d buckets and %d bytes of paths (%d buckets open, %d grown), bound %d",
			cap(bv.open), cap(bv.keys), len(bv.open), grown, maxRoomBuckets)
	}
	// Still a working cache: every key is found again.
	for i := range n {
		if err := getMany(pr.bv, i); err != nil {
			t.Fatal(err)
		}
	}
}
