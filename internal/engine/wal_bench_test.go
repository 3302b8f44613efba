package engine

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLogAppend is the commit loop's write of one group's record of
// about 1 KB: alone (the file grows every 4 MiB, by zeros and, since
// version 2, an fdatasync of the growth), and with the syncer's fdatasync
// after each (a lone Sync writer). µs/growth is the mean time of the
// appends that grew the file (what the growth costs the commit loop).
func BenchmarkLogAppend(b *testing.B) {
	muts := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("threads"), []byte("t"), []byte("cp")},
		Key: []byte("01JCKPT0000000000000000000"), Val: make([]byte, 1000)}}
	for _, fsync := range []bool{false, true} {
		name := map[bool]string{false: "append", true: "append+fdatasync"}[fsync]
		b.Run(name, func(b *testing.B) {
			l, err := CreateLog(filepath.Join(b.TempDir(), "b.db-wal"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			gen := uint64(0)
			var growths int
			var grew time.Duration
			for b.Loop() {
				gen++
				size, t0 := l.size, time.Now()
				n, err := l.Append(gen, gen-1, muts)
				if err != nil {
					b.Fatal(err)
				}
				if l.size != size {
					growths++
					grew += time.Since(t0)
				}
				b.SetBytes(int64(n))
				if fsync {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if growths > 0 {
				b.ReportMetric(float64(grew.Microseconds())/float64(growths), "µs/growth")
			}
		})
	}
}
