package ckpt

// Write tallies. A checkpoint's pending writes are the keys of wr/ that
// start with its key, found by one prefix scan; nothing else said how many
// there are. So damage that hid some of them (a flipped byte in a write's
// key moves it out of the prefix, a flipped key or page id in a branch page
// of wr/ sends the seek past them, a bucket header pointing elsewhere) read
// back as a checkpoint with fewer pending writes, or none, and no error:
// each record's sum checks the records that are found, not the ones that
// are not. A resume from it ran the tasks whose writes vanished again.
//
// Since format 7 each checkpoint with pending writes has a tally: how many
// writes it has and the XOR of a hash of each (its key's XXH3-64, and for
// a special write, replaced in place, its record's body too: writeHash), a record
// with its own sum stored as the value of the checkpoint's entry in the
// thread's history order (ids/, whose values were empty; a checkpoint
// without writes keeps an empty one). PutWrites and PutFull update it in
// the transaction that adds the writes (a write kept out by "first wins",
// or one replacing a special write, is not counted again); retention
// deletes it with the entry, CopyThread sums it again for its thread, an
// import and the upgrade count it from the writes. Every read of a
// checkpoint's pending writes (GetTuple, List, the Reader, Load) compares
// what its scan found with the tally: too few (hidden), too many (a key
// moved in, which its own sum also catches), other keys or an older record
// of a special write is ErrCorrupt naming the checkpoint, and so are
// writes found with no tally.
//
// Why there: the damage that hides writes is a page of wr/ that a seek
// misses, and that page would hide a tally stored among the writes (a
// record sorting first under the checkpoint's key would have been read by
// the same scan for free). In ids/ it sits in other pages: one damaged page
// hides one or the other, and either way the two disagree (a hidden order
// entry is also a gap List reports: list_gaps.go). And ids/ is written by
// the Put of the same checkpoint, so a PutWrites that follows rewrites a
// page already dirty in the applier's batch, and no thread needs a bucket
// more (a first version kept them in one: bench/RESULTS.md).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/zeebo/xxh3"
)

// writeTally is what a checkpoint's tally records of its pending writes.
type writeTally struct {
	n   uint32 // how many
	sum uint64 // XOR of writeHash of each write
}

// add counts the pending write rec stored under key.
func (t *writeTally) add(key, rec []byte) {
	t.n++
	t.sum ^= writeHash(key, rec)
}

// replaced notes that the write under key, counted with record old, now
// holds record rec (a special write replaced: same key, same count).
func (t *writeTally) replaced(key, old, rec []byte) {
	t.sum ^= writeHash(key, old) ^ writeHash(key, rec)
}

// writeHash is what the tally's sum takes of one pending write: the XXH3
// of its key, and for a special write (error, scheduled, interrupt,
// resume: its index is negative, the key's last four bytes' top bit clear)
// also of its record's body. A regular write is never replaced ("first
// wins"), so its key says all; a special one is replaced in place, and a
// stale copy of its page (a page id pointing at the freed older copy of
// the leaf) would read back its older record under the same key, every sum
// valid. The body is the record without its version byte and its sum,
// which moving it to another thread (CopyThread, Import) or sealing an old
// record (the upgrade) leave as they are; a new seal (Rekey, CopyThread
// with keys) changes it, and those adjust the tally (adjustTallies).
func writeHash(key, rec []byte) uint64 {
	h := xxh3.Hash(key)
	if len(key) >= 4 && key[len(key)-4]&0x80 == 0 {
		body := rec
		if len(rec) > 1+sumLen {
			body = rec[1 : len(rec)-sumLen]
		}
		h ^= xxh3.HashSeed(body, h)
	}
	return h
}

// Tally records: [tallyRecordT][n uint32 BE][sum uint64 BE][sum of the
// record, sumThreaded]. Version 2 in the low bits like the other kinds, so
// one flipped bit of the version byte gives a version no build writes.
const (
	tallyRecordT byte = 2 | sumThreaded
	tallyBodyLen      = 4 + 8
)

// encodeTally encodes t as the tally record stored under key (the
// checkpoint's history-order key) in the thread of seed ts.
func encodeTally(ts threadSeed, key []byte, t writeTally) []byte {
	b := make([]byte, 0, 1+tallyBodyLen+sumLen)
	b = append(b, tallyRecordT)
	b = binary.BigEndian.AppendUint32(b, t.n)
	b = binary.BigEndian.AppendUint64(b, t.sum)
	return appendSum(ts, key, b)
}

// decodeTally reads the tally record b stored under key in the thread of
// seed ts.
func decodeTally(ts threadSeed, key, b []byte) (writeTally, error) {
	if len(b) == 0 || b[0] != tallyRecordT {
		v := -1
		if len(b) > 0 {
			v = int(b[0])
		}
		return writeTally{}, fmt.Errorf("%w: write tally record version %d, this build reads %d", ErrCorrupt, v, tallyRecordT)
	}
	body, err := checkSum("write tally", ts, key, b)
	if err != nil {
		return writeTally{}, err
	}
	if len(body) != 1+tallyBodyLen {
		return writeTally{}, fmt.Errorf("%w: write tally record of %d bytes", ErrCorrupt, len(b))
	}
	return writeTally{n: binary.BigEndian.Uint32(body[1:]), sum: binary.BigEndian.Uint64(body[5:])}, nil
}

// checkTally compares found, the tally of the pending writes a scan found
// for a checkpoint, with b, the value of its history-order entry (keyed
// key, of the thread of seed ts).
func checkTally(ts threadSeed, key, b []byte, found writeTally) error {
	if len(b) == 0 {
		if found.n == 0 {
			return nil
		}
		return fmt.Errorf("%w: %d pending writes stored but no tally of them (its record is hidden or was removed)", ErrCorrupt, found.n)
	}
	want, err := decodeTally(ts, key, b)
	if err != nil {
		return fmt.Errorf("pending writes: %w", err)
	}
	switch {
	case want.n != found.n:
		return fmt.Errorf("%w: %d pending writes found, %d written (a damaged key or page hides or moved some)", ErrCorrupt, found.n, want.n)
	case want.sum != found.sum:
		return fmt.Errorf("%w: the keys of the %d pending writes found are not the ones written (a damaged key or page)", ErrCorrupt, found.n)
	}
	return nil
}

// addToTally adds added, the tally of pending writes just stored for a
// checkpoint of thread, to its stored tally, the value of its history-order
// entry keyed key. A stored tally that does not read is an error (nothing
// of the write is kept): a sum built on it would vouch for the damage.
func addToTally(w writer, thread string, key []byte, added writeTally) error {
	p := threadPath(thread, bucketOrder)
	ts := seedOf(thread)
	var t writeTally
	if b := w.Get(p, key); len(b) > 0 {
		var err error
		if t, err = decodeTally(ts, key, b); err != nil {
			return fmt.Errorf("thread %q: pending writes: %w", thread, err)
		}
	}
	t.n += added.n
	t.sum ^= added.sum
	return w.Put(p, key, encodeTally(ts, key, t))
}

// tallyDeltas gathers, by checkpoint, the changes a rewrite of pending
// write records makes to their tallies (Rekey, CopyThread: a new seal
// changes a special write's body, writeHash).
type tallyDeltas map[string]uint64 // history-order key -> XOR into the sum

// rewrote notes that the write keyed k, stored as old, is now rec.
func (d tallyDeltas) rewrote(k, old, rec []byte) {
	if x := writeHash(k, old) ^ writeHash(k, rec); x != 0 {
		if ns, id, _, _, err := parseFullWriteKey(k); err == nil {
			d[string(orderKey(id, ns))] ^= x
		}
	}
}

// apply adds the gathered changes to the tallies of thread's checkpoints
// (not to a checkpoint without a history entry: its writes are orphans,
// which Verify lists, and an entry made for them would be one more).
func (d tallyDeltas) apply(w writer, thread string) error {
	p := threadPath(thread, bucketOrder)
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if !w.Has(p, []byte(k)) {
			continue
		}
		if err := addToTally(w, thread, []byte(k), writeTally{sum: d[k]}); err != nil {
			return err
		}
	}
	return nil
}

// tallyFormat is the first format whose files keep write tallies.
const tallyFormat uint32 = 7

// tallyPos is where the next tally step of an upgrade starts.
type tallyPos struct {
	thread []byte // nil: before the first thread
	key    []byte // the first write key still to count; nil: the thread's first
}

// tallyStep counts the pending writes of the checkpoints from pos on and
// stores each one's tally, then advances pos: whole checkpoints only (a
// tally is never stored from part of its writes), as many as fit in about
// budget writes, at least one. done is true when it passed the last thread.
// A tally is counted from the writes, never added to one stored, so a step
// run again (an upgrade killed before its marker) stores the same tallies.
func tallyStep(w writer, pos *tallyPos, budget int) (done bool, err error) {
	type put struct {
		thread string
		key    []byte
		t      writeTally
	}
	var puts []put
	looked := 0
	for first := true; first || looked < budget; first = false {
		if pos.thread == nil {
			var err error
			if pos.thread, err = nextThread(w, nil); err != nil {
				return false, err
			}
			if pos.thread == nil {
				done = true
				break
			}
		}
		thread := string(pos.thread)
		var cur []byte // the key of the checkpoint being counted
		var t writeTally
		full := false
		if err := w.Scan(threadPath(thread, bucketWrites), nil, pos.key, false, func(k, v []byte) error {
			ns, id, _, _, err := parseFullWriteKey(k)
			if err != nil {
				return nil // counts for no checkpoint; Verify reports the key
			}
			if ck := checkpointKey(ns, id); !bytes.Equal(ck, cur) {
				if cur != nil {
					puts = append(puts, put{thread, cur, t})
					if looked >= budget {
						pos.key, full = bytes.Clone(k), true
						return errStop
					}
				}
				cur, t = ck, writeTally{}
			}
			t.add(k, v)
			looked++
			return nil
		}); err != nil {
			return false, err
		}
		if full {
			break
		}
		if cur != nil {
			puts = append(puts, put{thread, cur, t})
		}
		next, err := nextThread(w, pos.thread)
		if err != nil {
			return false, err
		}
		*pos = tallyPos{thread: next}
		if next == nil {
			done = true
			break
		}
	}
	for _, p := range puts {
		// Only a stored checkpoint's: the writes of one that is not stay
		// orphans, which Verify lists.
		ns, id, _ := parseCheckpointKey(p.key)
		if w.Get(threadPath(p.thread, bucketCheckpoints), p.key) == nil {
			continue
		}
		ok := orderKey(id, ns)
		if err := w.Put(threadPath(p.thread, bucketOrder), ok, encodeTally(seedOf(p.thread), ok, p.t)); err != nil {
			return false, err
		}
	}
	return done, nil
}

// tallyCounter counts a scan of a thread's pending writes by checkpoint
// key, for Verify and Export, which read them all.
type tallyCounter map[string]writeTally

// add counts the write v keyed k; a malformed key counts for no
// checkpoint (Verify reports it, Export refuses it).
func (c tallyCounter) add(k, v []byte) {
	if ns, id, _, _, err := parseFullWriteKey(k); err == nil {
		ck := string(checkpointKey(ns, id))
		t := c[ck]
		t.add(k, v)
		c[ck] = t
	}
}

// mismatches compares the counts with the tallies in the thread's history
// order and calls bad, in key order until it returns false, for each
// checkpoint whose writes and tally disagree. Writes of a checkpoint with
// no history entry are left to Verify's other checks (orphans, or an
// entry gone). It returns the number of history entries it read (all of
// them unless bad stopped it), for the count of threadCensus.
func (c tallyCounter) mismatches(r reader, thread string, bad func(ns string, id [idLen]byte, err error) bool) (entries int) {
	ts := seedOf(thread)
	more := true
	// Its error is harmless: a key passed over is not counted, and both
	// callers catch the count short (threadCensus against the records,
	// Verify by its page check first).
	_ = r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, v []byte) error {
		entries++
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return nil // Verify reports the key
		}
		ck := string(checkpointKey(ns, id))
		if err := checkTally(ts, k, v, c[ck]); err != nil {
			more = bad(ns, id, err)
		}
		delete(c, ck)
		return keepScanning(more)
	})
	return entries
}

// verifyTallies is the tally part of Verify for one thread of a file that
// keeps them.
func verifyTallies(r reader, thread string, rep *VerifyReport) {
	c := tallyCounter{}
	rep.scanned(thread, bucketWrites, r.Scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, v []byte) error {
		c.add(k, v)
		return nil
	}))
	c.mismatches(r, thread, func(ns string, id [idLen]byte, err error) bool {
		rep.add(Problem{Check: "write", Thread: thread, Namespace: ns, CheckpointID: idString(id), Detail: err.Error()})
		return true
	})
}
