package ckpt

// Reads into a block of memory kept from one read to the next.
//
// A GetTuple copies the tuple's values and pending writes out of its read
// transaction into a block of their own, which the caller owns: on the
// bench's W1, 12.4 of the 15.3 KB a GetTuple(latest) allocates. Those bytes
// set how often the GC runs (with a store's small live heap, every ~200
// reads) and, as the runtime hands the freed pages back to the OS and
// faults them in again, most of a read's page faults: reusing one block
// instead halved the median R1 call and cut its mean to 0.37x
// (bench/RESULTS.md, "R1/R2: where a read's bytes go"). A Reader is that
// reuse, asked for: what it returns is only valid until its next read.

import "context"

// A Reader reads checkpoints as Store.GetTuple does, but copies the value
// bytes of each tuple (its channel values and its pending writes' values,
// each a Raw) into one block of memory that it keeps and reuses at its next
// read, instead of into a new block each time: a caller that reads in a
// loop allocates them once.
//
// The Raw values of a tuple a Reader returned are valid until the Reader's
// next read, which overwrites them: decode them, or copy them
// (bytes.Clone), before reading again. Everything else of the tuple (its
// maps, strings, configs, the PendingWrites slice) is the caller's, as
// from GetTuple. A Raw never reaches into its neighbour (appending to one
// copies it). A Reader is not safe for concurrent use: use one per
// goroutine. Its block stays allocated as long as the Reader is reachable.
type Reader struct {
	s     *Store
	block []byte
}

// NewReader returns a Reader of s.
func (s *Store) NewReader() *Reader { return &Reader{s: s} }

// GetTuple is Store.GetTuple, with the tuple's value bytes in r's block:
// valid until r's next read.
func (r *Reader) GetTuple(ctx context.Context, cfg Config) (_ *Tuple, err error) {
	defer r.s.obs.done(OpGet, &err)
	return r.s.getTuple(ctx, cfg, &r.block)
}
