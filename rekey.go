package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
)

// rekeyBatch bounds one Rekey transaction: at most this many records
// re-sealed, so writers queued behind it wait for one small commit.
const rekeyBatch = 256

// rekeyScan bounds the records one Rekey transaction looks at, so a long
// run of records already under the newest key is also walked in steps.
const rekeyScan = 4096

// RekeyStats says what Store.Rekey did.
type RekeyStats struct {
	Resealed     int64 // records re-sealed under the newest key (or sealed, if they were plain)
	Transactions int64
}

// Rekey re-seals every value, list segment and pending write that is not
// sealed under the newest key (Options.Encryption.Keys[0]), plain records
// of a file written before encryption was turned on included. It works
// through the normal write path in transactions of at most a few hundred
// records, so writers go on meanwhile, and a crash anywhere leaves every
// record whole under one of the keys (each transaction is atomic): run it
// again with the same keys to finish. Its transactions commit Sync on an
// Async store too (NoSync stays NoSync), and on any store everything is
// fsync'd before it returns nil: the old keys can then be dropped from
// Options.Encryption. The failures of Async writes before it are not
// its own: it leaves them for the next Flush or Close. An Import
// running beside it writes its dump's sealed records as they are, and
// Rekey does not see them: SealedKeys still lists their keys afterwards
// (run Rekey again once the import is done).
func (s *Store) Rekey(ctx context.Context) (RekeyStats, error) {
	var st RekeyStats
	if s.keys == nil {
		return st, fmt.Errorf("%w: Rekey needs Options.Encryption", ErrInvalidConfig)
	}
	// Before the threads are listed: the keys of what imports running
	// meanwhile write, in threads the list does not hold (crypt_import.go).
	keep := s.importSeals.watch()
	defer s.importSeals.end(keep)
	var threads []string
	var before []uint32 // the marker's key ids before (crypt.go)
	if err := s.view(ctx, func(r reader) (err error) {
		before, _, err = decodeSealedKeys(r.Get(bucketPath{bucketMeta}, keySealedKeys))
		if err != nil {
			return err
		}
		threads = threads[:0]
		return r.Buckets(threadsRoot, nil, func(name []byte) error {
			threads = append(threads, string(name))
			return nil
		})
	}); err != nil {
		return st, err
	}
	for _, thread := range threads {
		th := threadOf(thread)
		for _, sub := range [][]byte{bucketBlobs, bucketSegments, bucketWrites} {
			var start []byte
			for done := false; !done; {
				if err := ctx.Err(); err != nil {
					return st, err
				}
				var n int64
				var next []byte
				err := s.maintain(ctx, func(w writer) error {
					n, next, done = 0, nil, false
					var ks, vs [][]byte
					scanned := 0
					p := threadPath(thread, sub)
					resealed := tallyDeltas{} // special writes' new seals (writeHash)
					done = true
					if err := w.Scan(p, nil, start, false, func(k, v []byte) error {
						if scanned == rekeyScan || len(ks) == rekeyBatch {
							next, done = bytes.Clone(k), false
							return errStop
						}
						scanned++
						nv, changed, err := reseal(s.keys, sub, th, th, k, v, false)
						if err != nil {
							return fmt.Errorf("thread %q: %w", thread, err)
						}
						if changed {
							ks, vs = append(ks, bytes.Clone(k)), append(vs, nv)
							if bytes.Equal(sub, bucketWrites) {
								resealed.rewrote(k, v, nv)
							}
						}
						return nil
					}); err != nil {
						return err
					}
					for i := range ks {
						if err := w.Put(p, ks[i], vs[i]); err != nil {
							return err
						}
					}
					n = int64(len(ks))
					return resealed.apply(w, thread)
				})
				if err != nil {
					return st, err
				}
				start = next // only once committed: the write may run again
				st.Resealed += n
				st.Transactions++
			}
		}
	}
	// Every record that was there is under the newest key now: the marker
	// drops the ids it had before, but keeps those of what imports wrote
	// meanwhile (which this pass did not see).
	var ids []uint32
	err := s.maintain(ctx, func(w writer) error {
		cur, _, err := decodeSealedKeys(w.Get(bucketPath{bucketMeta}, keySealedKeys))
		if err != nil {
			return err
		}
		imported := s.importSeals.ids(keep)
		ids = slices.DeleteFunc(slices.Clone(cur), func(id uint32) bool {
			return slices.Contains(before, id) && !slices.Contains(imported, id)
		})
		ids, _ = withID(ids, s.keys.sealID)
		if slices.Equal(ids, cur) {
			return nil
		}
		return w.Put(bucketPath{bucketMeta}, keySealedKeys, encodeSealedKeys(ids))
	})
	if err != nil {
		return st, fmt.Errorf("encryption marker: %w", err)
	}
	s.noteSealed(ids)
	// Durable before it returns, NoSync or not: the caller may drop the
	// old keys now, and a power cut that lost the re-sealing would leave
	// every record it re-sealed readable only with them. Its outcome is
	// waited for even if ctx ends (a Flush would leave it then). The
	// failures of Async writes before it are not its own: they stay for
	// the next Flush or Close, which would otherwise return nil for them.
	if err := s.writing(ctx, func() error { return s.eng.WaitDurable(context.WithoutCancel(ctx)) }); err != nil {
		return st, fmt.Errorf("make the re-sealing durable: %w", err)
	}
	return st, nil
}

// reseal returns record v at key k of thread from's sub-bucket sub sealed
// under the newest key for thread to, and whether it changed. Unless
// force, a record already sealed under the newest key for the same thread
// is left as is. Records that hold no user data (empty values, list
// references) never change.
func reseal(kr *keyring, sub []byte, from, to sumThread, k, v []byte, force bool) ([]byte, bool, error) {
	switch {
	case bytes.Equal(sub, bucketBlobs):
		kind, body, err := blobKind(from.seed, k, v)
		if err != nil || kind == blobEmpty || kind == blobListRef {
			return nil, false, err
		}
		if kind == blobSealed && !force && kr.current(body) {
			return nil, false, nil
		}
		ns, ch, ver, err := parseBlobKey(k)
		if err != nil {
			return nil, false, err
		}
		if _, body, err = openBlob(kr, from.id, from.seed, ns, ch, ver, v); err != nil {
			return nil, false, fmt.Errorf("channel %q version %q: %w", ch, ver, err)
		}
		return encodeValueBlob(kr, to.id, to.seed, ns, ch, ver, body), true, nil
	case bytes.Equal(sub, bucketSegments):
		seg, err := decodeSegment(from.seed, k, v)
		if err != nil {
			return nil, false, err
		}
		if seg.sealed && !force && kr.current(seg.items) {
			return nil, false, nil
		}
		ns, ch, id, _, err := parseSegmentKey(k)
		if err != nil {
			return nil, false, err
		}
		items, err := lineage{thread: from.id, seed: from.seed, ns: ns, channel: ch, id: id, kr: kr}.openItems(seg)
		if err != nil {
			return nil, false, err
		}
		return encodeSegment(kr, to.id, to.seed, k, seg.count, seg.flags, items), true, nil
	case bytes.Equal(sub, bucketWrites):
		rec, err := decodeWriteRecord(from.seed, k, v)
		if err != nil {
			return nil, false, err
		}
		if rec.sealed != nil && !force && kr.current(rec.sealed) {
			return nil, false, nil
		}
		if rec, err = openWriteRecord(kr, from.id, from.seed, k, v); err != nil {
			return nil, false, fmt.Errorf("pending write: %w", err)
		}
		nv, err := encodeWriteRecord(kr, to.id, to.seed, k, rec)
		return nv, err == nil, err
	}
	return nil, false, errors.New("ckpt: reseal: not a sealed bucket")
}

// sumThread is a thread id with its seed for the record sums (seedOf).
type sumThread struct {
	id   string
	seed threadSeed
}

func threadOf(id string) sumThread { return sumThread{id, seedOf(id)} }

// copiedRecord is record v at key k of sub-bucket sub of thread from as
// CopyThread writes it into thread to: each record's sum covers its thread
// (format 6, record_sum.go) and each seal is bound to it (crypt.go), so
// a copied record would not read in its new place. With keys, a sealed
// record is opened and sealed again for to, and a plain value, list
// segment or pending write is sealed for it; any other record is checked
// under from and summed again under to (movedRecord: one whose sum fails
// is copied as it is, and its reads in the copy report it). Without keys,
// a sealed record is summed again but stays sealed for from (it does not
// open in the copy: ErrKey).
func copiedRecord(kr *keyring, sub []byte, from, to sumThread, k, v []byte) ([]byte, error) {
	if !holdsRecords(sub) {
		// ids/: keys, and the write tallies, whose sums name the thread
		// (write_tally.go).
		if len(v) > 0 {
			return rethreadRecord(from.seed, to.seed, k, v), nil
		}
		return v, nil
	}
	if kr != nil && isSealedRecord(sub, v) {
		nv, _, err := reseal(kr, sub, from, to, k, v, true)
		if err != nil {
			return nil, err
		}
		return nv, nil
	}
	if kr != nil && slices.ContainsFunc(resealedSubBuckets, func(b []byte) bool { return bytes.Equal(b, sub) }) {
		// A plain record (of a file written before encryption was turned
		// on) is sealed in the copy: a keyed handle writes no plaintext,
		// and a Rekey beside the copy would not see it (it lists the
		// threads at its start).
		if nv, changed, err := reseal(kr, sub, from, to, k, v, true); err == nil && changed {
			return nv, nil
		}
		// One that holds no user data, or that damage keeps from
		// opening: as any other record.
	}
	return movedRecord(sub, from.seed, to.seed, k, v), nil
}

// resealedSubBuckets are the sub-buckets whose records hold user data,
// sealed with Options.Encryption: values, list segments, pending writes.
var resealedSubBuckets = [][]byte{bucketBlobs, bucketSegments, bucketWrites}

// isSealedRecord reports whether v (of sub-bucket sub) is encrypted.
func isSealedRecord(sub, v []byte) bool {
	switch {
	case bytes.Equal(sub, bucketBlobs):
		return len(v) >= 2 && isVersion(v[0], blobRecordV3) && v[1] == blobSealed
	case bytes.Equal(sub, bucketSegments):
		return len(v) >= 1 && isVersion(v[0], segmentRecordV4)
	case bytes.Equal(sub, bucketWrites):
		return len(v) >= 1 && isVersion(v[0], writeRecordV4)
	}
	return false
}
