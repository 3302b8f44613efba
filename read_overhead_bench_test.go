package ckpt

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkReadOverhead is what a GetTuple pays outside its read: the
// metrics, the closed check, the snapshot (pooled, with a log), the read
// gate, the fault guard, with a read that reads nothing. Issue 18's R1
// costs 13-15 µs a call on W1; this is the part no read can avoid.
func BenchmarkReadOverhead(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "s.db"), Options{Durability: NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	read := func() (err error) {
		defer s.obs.done(OpGet, &err)
		return s.view(ctx, func(reader) error { return nil })
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
}
