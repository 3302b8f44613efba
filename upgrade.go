package ckpt

// The in-place upgrade of a file written before format 3 (records without
// checksums, record_sum.go). A read-write Open rewrites every record of
// every thread with its checksum (format 6's, over thread, key and
// record), then moves the format marker to formatVersion. A file of format
// 3 to 6 has every record checksummed already (CRC-32C or XXH3 of the
// record alone, or XXH3 over key and record, still read): its records keep
// their sums, which before format 6 do not cover their keys or threads
// (rewriting every record of a large file in Open was not worth it: what
// it writes from then on covers both). Every file before format 7 then has
// the pending writes of each checkpoint counted into its tally
// (write_tally.go, tallyStep) and every thread listed in the directory of
// threads (thread_dir_upgrade.go, dirStep), and every file before format
// 8 every namespace of every thread listed there too (nsStep), and only
// then is the marker moved.
//
// Crash safety: the rewrite runs through the ordinary write path (the
// write-ahead log in front of bbolt), in bounded steps, and sealing a record
// is idempotent (a record that already has its checksum is left alone). A
// process killed mid-upgrade leaves a file whose records are each either old
// or sealed, both readable, and tallies each whole (a step never splits a
// checkpoint's writes) or not yet written, which a file marked before 7 does
// not read, and directory entries (thread_dir_upgrade.go, dirStep) for some
// threads, which a file marked before 7 does not check, and namespace
// entries for some namespaces, which a file marked before 8 does not
// check; the next read-write Open scans again and finishes (a tally is
// counted again from the writes, not added to; the namespace entries are
// cleared and listed again, since a build of format 7 may have run on the
// file in between and deleted a namespace without its entry). Only the
// last step, once a full pass found nothing left to seal, every tally is
// stored and every thread and namespace listed, writes the marker, so a
// file marked 3 or more holds no unchecked record.
// A file caught half-way is refused record by record by a build before
// format 6 (ErrFormatVersion on the sealed ones): never a wrong value.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
)

// sealRecord returns record b, stored under key in the thread sub-bucket
// sub (ts is the thread's seed), with its checksum: an old (unchecked)
// record is re-encoded in the checksummed version of its kind this build
// writes (its sum covering key and thread), with the same body. changed is false when b needs nothing (already
// sealed, or of a version this build does not know: reads report those).
func sealRecord(sub []byte, ts threadSeed, key, b []byte) (_ []byte, changed bool) {
	if len(b) == 0 {
		return b, false
	}
	var sealed byte
	switch {
	case bytes.Equal(sub, bucketCheckpoints) && b[0] == checkpointRecordV1:
		sealed = checkpointRecordT
	case bytes.Equal(sub, bucketMetadata) && b[0] == metadataRecordV1:
		sealed = metadataRecordT
	case bytes.Equal(sub, bucketWrites) && b[0] == writeRecordV1:
		sealed = writeRecordT
	case bytes.Equal(sub, bucketBlobs) && (b[0] == blobRecordV1 || b[0] == blobRecordV2):
		// The blob kinds and bodies are the same in every version.
		sealed = blobRecordT
	case bytes.Equal(sub, bucketSegments) && b[0] == segmentRecordV1:
		sealed = segmentRecordT
	default:
		return b, false
	}
	out := make([]byte, 0, len(b)+sumLen)
	out = append(append(out, sealed), b[1:]...)
	return appendSum(ts, key, out), true
}

// isSealed reports whether record b of sub-bucket sub carries a checksum.
func isSealed(sub []byte, b []byte) bool {
	_, changed := sealRecord(sub, 0, nil, b)
	return !changed
}

// importedRecord is record b, checked already and to be stored under key
// in sub-bucket sub of the thread of seed ts, as Import writes it: sealed
// if it had no sum, its sum made to cover key and thread if it had one of
// format 3 to 5 (rethreadRecord).
func importedRecord(sub []byte, ts threadSeed, key, b []byte) []byte {
	return movedRecord(sub, ts, ts, key, b)
}

// movedRecord is record b of sub-bucket sub, read under key in the thread
// of seed from, as it is written under key in the thread of seed to
// (Import, CopyThread): sealed for to if it had no sum, else checked under
// from and summed again under to (rethreadRecord).
func movedRecord(sub []byte, from, to threadSeed, key, b []byte) []byte {
	if nb, changed := sealRecord(sub, to, key, b); changed {
		return nb
	}
	return rethreadRecord(from, to, key, b)
}

// sealedSubBuckets are the thread sub-buckets whose values are records.
// (ids/ holds keys, and since format 7 write tallies, born with their
// sums: write_tally.go.)
var sealedSubBuckets = [][]byte{bucketCheckpoints, bucketMetadata, bucketWrites, bucketBlobs, bucketSegments}

// holdsRecords reports whether sub is one of sealedSubBuckets: its values
// are records, each with its checksum.
func holdsRecords(sub []byte) bool {
	return slices.ContainsFunc(sealedSubBuckets, func(b []byte) bool { return bytes.Equal(b, sub) })
}

// upgradePos is where the next upgrade step starts.
type upgradePos struct {
	thread []byte // nil: before the first thread
	sub    int    // index into sealedSubBuckets
	key    []byte // first key of the bucket still to look at
}

// formatOf reads the file's format marker.
func formatOf(r reader) (uint32, error) {
	v := r.Get(bucketPath{bucketMeta}, keyFormat)
	if err := checkFormat(v, r.Get(bucketPath{bucketMeta}, keyFormatSum)); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

// recoverOnOpen runs in a read-write Open once the log is replayed and the
// commit loop runs: it upgrades an older file, brings the encryption
// marker up to date (crypt.go) and undoes the imports a previous run left
// unfinished.
func (s *Store) recoverOnOpen(ctx context.Context) error {
	if err := s.upgradeFormat(ctx); err != nil {
		return err
	}
	if err := s.markEncryption(ctx); err != nil {
		return err
	}
	return s.rollbackImports(ctx)
}

// upgradeFormat brings a file of an older format to formatVersion (see the
// top of this file). It runs in Open, on a writable store, before Open
// returns.
func (s *Store) upgradeFormat(ctx context.Context) error {
	var format uint32
	// dirless: a file of format 7 written before the directory of threads
	// joined it (dirlessFile): its threads are listed as an upgrade would.
	var dirless, unsummed bool
	if err := s.view(ctx, func(r reader) (err error) {
		if format, err = formatOf(r); err != nil {
			return err
		}
		unsummed = r.Get(bucketPath{bucketMeta}, keyFormatSum) == nil
		dirless, err = dirlessFile(r, format)
		return err
	}); err != nil {
		return err
	}
	if format >= formatVersion && !dirless {
		if unsummed {
			// Written before the marker's sum: from now on a flipped
			// byte of the marker is told from an older file.
			return s.markFormat(ctx, format)
		}
		return nil
	}
	// Every step is synced: the marker must not reach the disk before the
	// records it vouches for, whatever the store's default durability.
	ctx = WithWriteOptions(ctx, WriteOptions{Durability: Sync})
	step := 0
	if format < 3 {
		// (From format 3, every record has its checksum already.)
		var pos upgradePos
		for done := false; !done; step++ {
			err := s.write(ctx, func(w writer) (err error) {
				done, err = upgradeStep(w, &pos, s.tune.upgradeStepRecords, s.tune.upgradeStepScan)
				return err
			})
			if err != nil {
				return fmt.Errorf("upgrade from format %d to %d: %w", format, formatVersion, err)
			}
			if s.tune.upgradeStepHook != nil {
				s.tune.upgradeStepHook(step, false)
			}
		}
	}
	if format < tallyFormat {
		var pos tallyPos
		for done := false; !done; step++ {
			err := s.write(ctx, func(w writer) (err error) {
				done, err = tallyStep(w, &pos, s.tune.upgradeStepRecords)
				return err
			})
			if err != nil {
				return fmt.Errorf("upgrade from format %d to %d: counting pending writes: %w", format, formatVersion, err)
			}
			if s.tune.upgradeStepHook != nil {
				s.tune.upgradeStepHook(step, false)
			}
		}
	}
	if format < dirFormat || dirless {
		var after []byte
		for done := false; !done; step++ {
			err := s.write(ctx, func(w writer) (err error) {
				done, err = dirStep(w, &after, s.tune.upgradeStepRecords)
				return err
			})
			if err != nil {
				return fmt.Errorf("upgrade from format %d to %d: listing the threads: %w", format, formatVersion, err)
			}
			if s.tune.upgradeStepHook != nil {
				s.tune.upgradeStepHook(step, false)
			}
		}
	}
	if format < nsFormat {
		var pos nsPos
		for done := false; !done; step++ {
			err := s.write(ctx, func(w writer) (err error) {
				done, err = nsStep(w, &pos, s.tune.upgradeStepRecords)
				return err
			})
			if err != nil {
				return fmt.Errorf("upgrade from format %d to %d: listing the namespaces: %w", format, formatVersion, err)
			}
			if s.tune.upgradeStepHook != nil {
				s.tune.upgradeStepHook(step, false)
			}
		}
	}
	if err := s.markFormat(ctx, format); err != nil {
		return err
	}
	s.untallied, s.unlisted = false, false
	if s.tune.upgradeStepHook != nil {
		s.tune.upgradeStepHook(step, true)
	}
	return nil
}

// markFormat writes the format marker of this build and its sum, synced:
// it must not reach the disk before the records it vouches for.
func (s *Store) markFormat(ctx context.Context, from uint32) error {
	ctx = WithWriteOptions(ctx, WriteOptions{Durability: Sync})
	err := s.write(ctx, func(w writer) error { return putFormat(w) })
	if err != nil {
		return fmt.Errorf("upgrade from format %d to %d: marking the file: %w", from, formatVersion, err)
	}
	return nil
}

// upgradeStep seals at most budget records, looking at no more than scan
// records, from pos on, and advances pos. done is true when it reached the
// end of the last thread.
func upgradeStep(w writer, pos *upgradePos, budget, scan int) (done bool, err error) {
	type put struct {
		p    bucketPath
		k, v []byte
	}
	var puts []put
	looked := 0
	for {
		if pos.thread == nil {
			var err error
			if pos.thread, err = nextThread(w, nil); err != nil {
				return false, err
			}
			if pos.thread == nil {
				return true, nil
			}
		}
		ts := seedOf(string(pos.thread))
		for ; pos.sub < len(sealedSubBuckets); pos.sub, pos.key = pos.sub+1, nil {
			sub := sealedSubBuckets[pos.sub]
			p := threadPath(string(pos.thread), sub)
			full := false
			if err := w.Scan(p, nil, pos.key, false, func(k, v []byte) error {
				if len(puts) >= budget || looked >= scan {
					pos.key, full = bytes.Clone(k), true
					return errStop
				}
				looked++
				if nv, changed := sealRecord(sub, ts, k, v); changed {
					puts = append(puts, put{p, bytes.Clone(k), nv})
				}
				return nil
			}); err != nil {
				return false, err
			}
			if full {
				break
			}
		}
		if pos.sub >= len(sealedSubBuckets) {
			next, err := nextThread(w, pos.thread)
			if err != nil {
				return false, err
			}
			*pos = upgradePos{thread: next}
			if next == nil {
				done = true
			}
		}
		if done || len(puts) >= budget || looked >= scan {
			break
		}
	}
	for _, p := range puts {
		if err := w.Put(p.p, p.k, p.v); err != nil {
			return false, err
		}
	}
	return done, nil
}

// nextThread returns the name of the thread after after (nil: the first),
// nil when there is none: the walk of an upgrade's steps.
func nextThread(r reader, after []byte) (next []byte, err error) {
	err = r.Buckets(threadsRoot, after, func(name []byte) error {
		next = bytes.Clone(name)
		return errStop
	})
	return next, err
}
