package ckpt

import (
	"os"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// EncodeValueForBench exposes the value encoder to the external test
// package, for the encode benchmark in bench_test.go. (Named apart from
// any exported encoder, so the benchmark builds with or without one.)
func EncodeValueForBench(v any) (Raw, error) { return encodeValue("value", v) }

// WithLogSync returns opts with sync in place of the write-ahead log's
// fdatasync: the benchmarks' fixed-latency disk (bench_test.go), which
// shows what the commit pipeline costs apart from a disk whose fsync
// latency wanders by 2x between runs on a shared machine.
func WithLogSync(opts Options, sync func(*os.File) error) Options {
	opts.tuning = &tuning{hooks: engine.Hooks{SyncLog: sync}}
	return opts
}
