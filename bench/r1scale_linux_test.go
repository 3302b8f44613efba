package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1Scale is W4's question at W4's length (issue 18, h130-reads):
// R1 (GetTuple latest, round-robin over the threads) and R2 (by id, the
// random picks) on 100 threads and on 2,000 threads of the same S steps,
// so that each read returns the same states and only the store's size
// differs (the bench's "W4 against 100x500"). The stores are loaded as
// W4's (16 NoSync writers, interleaved threads), closed and opened again;
// CKPT_BENCH_STORES keeps them between runs (cachedStore). Besides ns/op:
// the process's CPU and minor faults a call, and p50/p99 of the calls.
// S is 500 (W4's) unless CKPT_BENCH_SCALE_STEPS says otherwise.
func BenchmarkR1Scale(b *testing.B) {
	S := 500
	if v, err := strconv.Atoi(os.Getenv("CKPT_BENCH_SCALE_STEPS")); err == nil && v > 0 {
		S = v
	}
	// Both stores open, both inputs alive, as in the bench's process
	// (its W4 side and its 100xS side): the same heap for both.
	type side struct {
		in  *w1Input
		st  *ckpt.Store
		ids [][]string
	}
	sides := map[int]*side{}
	for _, T := range []int{100, 2000} {
		in := buildW1Input(T, S, 200, 1024, 10000)
		st, ids := cachedStore(b, in)
		defer st.Close()
		sides[T] = &side{in, st, ids}
	}
	for _, c := range []struct {
		name string
		T    int
		r2   bool
	}{
		{"R1-t100", 100, false},
		{"R1-t2000", 2000, false},
		{"R2-t100", 100, true},
		{"R2-t2000", 2000, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in, st, ids := sides[c.T].in, sides[c.T].st, sides[c.T].ids
			var cfgs []ckpt.Config
			if c.r2 {
				for _, p := range in.picks {
					cfgs = append(cfgs, ckpt.Config{ThreadID: "thread-" + strconv.Itoa(p[0]), CheckpointID: ids[p[0]][p[1]]})
				}
			} else {
				for t := range c.T {
					cfgs = append(cfgs, ckpt.Config{ThreadID: "thread-" + strconv.Itoa(t)})
				}
			}
			// One pass untimed: the pages in the process's map, as W4's
			// reads after their untimed pass.
			for _, cfg := range cfgs {
				if _, err := st.GetTuple(ctx, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			lat := make([]float64, 0, 1<<16)
			runtime.GC() // as the bench before each read's round
			ru0 := processUsage()
			n := 0
			// Labelled (pprof -tagfocus 'read=timed'): a CPU profile of the
			// benchmark holds the untimed pass too, whose first touches of
			// the file's pages are page faults.
			// Each call's CPU on its own thread too (the goroutine locked
			// to it: the GC's assists it pays are in, the background
			// workers are not): tells a call that stalls from one that
			// waits off the CPU (the machine is shared).
			tcpu := make([]float64, 0, cap(lat))
			runtime.LockOSThread()
			pprof.Do(ctx, pprof.Labels("read", "timed", "case", c.name), func(ctx context.Context) {
				for ; b.Loop(); n++ {
					c0 := threadCPUNs()
					t0 := time.Now()
					if _, err := st.GetTuple(ctx, cfgs[n%len(cfgs)]); err != nil {
						b.Fatal(err)
					}
					if len(lat) < cap(lat) {
						lat = append(lat, float64(time.Since(t0).Nanoseconds()))
						tcpu = append(tcpu, float64(threadCPUNs()-c0))
					}
				}
			})
			runtime.UnlockOSThread()
			ru1 := processUsage()
			b.ReportMetric(float64(ru1.cpuNs()-ru0.cpuNs())/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(ru1.sysNs-ru0.sysNs)/float64(n), "sys-ns/op")
			b.ReportMetric(float64(ru1.minflt-ru0.minflt)/float64(n), "minflt/op")
			b.ReportMetric(float64(filePmdMapped(c.T, S))/(1<<20), "pmd-MB")
			slices.Sort(lat)
			b.ReportMetric(pct(lat, 50), "p50-ns")
			b.ReportMetric(pct(lat, 99), "p99-ns")
			slices.Sort(tcpu)
			b.ReportMetric(pct(tcpu, 50), "thread-cpu-p50-ns")
			b.ReportMetric(pct(tcpu, 99), "thread-cpu-p99-ns")
		})
	}
}

// filePmdMapped is how many bytes of the T x S store's map are mapped by
// huge pages (FilePmdMapped in /proc/self/smaps; 0 where there is none).
func filePmdMapped(T, S int) int64 {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	name := fmt.Sprintf("r2same-%dx%d.db", T, S)
	in := false
	var n int64
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasSuffix(strings.TrimSpace(line), name)
			continue
		}
		if in && len(f) >= 2 && f[0] == "FilePmdMapped:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			n += v << 10
		}
	}
	return n
}

// threadCPUNs is the CPU time of the calling thread (0 where unknown).
func threadCPUNs() int64 {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}
