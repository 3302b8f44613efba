package engine

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkPooledReadBucketMemory measures what a pooled read's open
// buckets cost in heap: a store laid out as the checkpoint store's
// (threads/<thread>/{cp,md,wr,bl,ls}, each sub-bucket a few pages deep),
// one pooled read reading a key of every sub-bucket of n threads (a
// bucket cache of about 6n entries), the live heap after a GC before and
// after. Reported per open bucket (heap-B/bucket, and counted-B/bucket:
// what the pool's bound counts, BoltView.cacheBytes) and in all (heap-MB).
func BenchmarkPooledReadBucketMemory(b *testing.B) {
	// 40 keys of 300 bytes a bucket: three leaf pages and a branch, as a
	// W4 thread's buckets. 2 keys: inline buckets (a short thread's), whose
	// value bbolt copies when it is not 8-byte aligned.
	for _, keys := range []int{40, 2} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) { benchBucketMemory(b, keys) })
	}
}

func benchBucketMemory(b *testing.B, keys int) {
	e := openTestEngine(b, filepath.Join(b.TempDir(), "e.db"), false)
	defer e.Close()
	subs := [][]byte{[]byte("cp"), []byte("md"), []byte("wr"), []byte("bl"), []byte("ls")}
	const threads = 2800
	val := make([]byte, 300)
	for t0 := 0; t0 < threads; t0 += 100 {
		err := do(e, &Op{Apply: func(w Writer) error {
			for t := t0; t < t0+100; t++ {
				for _, sub := range subs {
					for k := range keys {
						if err := w.Put(Path{[]byte("threads"), fmt.Appendf(nil, "thread-%d", t), sub}, fmt.Appendf(nil, "k%03d", k), val); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := do(e, &Op{Solo: func() error { return nil }}); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{170, 680, 2730} { // about 1k, 4k, 16k buckets
		b.Run(fmt.Sprintf("threads=%d", n), func(b *testing.B) {
			var buckets int
			var perBucket, total, est, trimUs float64
			for b.Loop() {
				ss := e.snapshots()
				pr, _, err := ss.Acquire(&e.dbMu, &e.db)
				if err != nil {
					b.Fatal(err)
				}
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				for t := range n {
					for _, sub := range subs {
						if pr.bv.Get(Path{[]byte("threads"), fmt.Appendf(nil, "thread-%d", t), sub}, []byte("k001")) == nil {
							b.Fatal("missing key")
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				buckets = len(pr.bv.open)
				est = float64(pr.bv.cacheBytes()) / float64(buckets)
				// What a trim to half costs (Release, past the bound).
				t0 := time.Now()
				pr.bv.trim(pr.bv.cacheBytes() / 2)
				trimUs = float64(time.Since(t0).Microseconds())
				total = float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
				perBucket = total / float64(buckets)
				ss.Release(pr, false)
			}
			b.ReportMetric(float64(buckets), "buckets")
			b.ReportMetric(perBucket, "heap-B/bucket")
			b.ReportMetric(est, "counted-B/bucket") // cacheBytes: at least the heap
			b.ReportMetric(total/1e6, "heap-MB")
			b.ReportMetric(trimUs, "trim-µs")
		})
	}
}
