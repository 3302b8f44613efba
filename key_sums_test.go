package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// moveRecord stores val under key to instead of rec's key (a key whose
// bytes changed in its page): rec's key is deleted.
func moveRecord(t *testing.T, s *Store, rec storedRecord, to, val []byte) {
	t.Helper()
	err := s.write(context.Background(), func(w writer) error {
		if err := w.Del(rec.path, rec.key); err != nil {
			return err
		}
		if to == nil {
			return nil
		}
		return w.Put(rec.path, to, val)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readAll runs every read of reads; each result is what it read or its
// error.
func readAll(reads map[string]func() (any, error)) (map[string]any, map[string]error) {
	got, errs := map[string]any{}, map[string]error{}
	for name, read := range reads {
		got[name], errs[name] = read()
	}
	return got, errs
}

// TestFlippedKeyOfEveryRecordKind changes, one at a time, each byte of the
// key of one record of every kind (checkpoint, metadata, pending write, a
// whole value's blob, a list's blob, a list segment; as this build writes
// them), twice (its low and its high bit), and puts the record under the
// changed key. No read returns another record: each returns ErrCorrupt, or
// ErrNotFound (a Get by the record's old key finds nothing there), or what
// it returned before, or what it returns with the record deleted (a record
// no read of its checkpoint looks for under its new key: a value blob, a
// pending write whose checkpoint id changed; that is a missing record, not
// a wrong one, and the sum cannot show it: see Verify below). Verify lists
// a problem of the thread every time: the record's sum, checked against
// the key it is under, or the record its checkpoint lacks.
func TestFlippedKeyOfEveryRecordKind(t *testing.T) {
	t.Parallel()
	s, cfg, recs := everyKindStore(t, false)
	reads := recordReads(s, cfg)
	want, errs := readAll(reads)
	for name, err := range errs {
		if err != nil {
			t.Fatalf("%s before any change: %v", name, err)
		}
	}
	corrupt := 0
	for _, rec := range recs {
		moveRecord(t, s, rec, nil, nil)
		without, withoutErrs := readAll(reads)
		for _, flip := range []byte{0x01, 0x80} {
			for i := range rec.key {
				to := bytes.Clone(rec.key)
				to[i] ^= flip
				moveRecord(t, s, rec, to, rec.val)
				rec := storedRecord{rec.kind, rec.path, to, rec.val}
				got, errs := readAll(reads)
				for name, err := range errs {
					switch {
					case errors.Is(err, ErrCorrupt):
						corrupt++
					case errors.Is(err, ErrNotFound):
					case err == nil && reflect.DeepEqual(got[name], want[name]):
					case err == nil && withoutErrs[name] == nil && reflect.DeepEqual(got[name], without[name]):
					default:
						t.Fatalf("%s record, key byte %d ^ %#x (%x): %s returned %v, %v: not ErrCorrupt, nor what it read before, nor without the record",
							rec.kind, i, flip, to, name, got[name], err)
					}
				}
				rep, err := s.Verify(context.Background(), VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				listed := false
				for _, p := range rep.Problems {
					listed = listed || p.Thread == "t"
				}
				if !listed {
					t.Fatalf("%s record, key byte %d ^ %#x (%x): Verify lists %v", rec.kind, i, flip, to, rep.Problems)
				}
				// Back to its own key.
				moveRecord(t, s, rec, nil, nil)
			}
		}
		moveRecord(t, s, rec, rec.key, rec.val)
		if got, errs := readAll(reads); !reflect.DeepEqual(got, want) || fmt.Sprint(errs) != fmt.Sprint(map[string]error{"GetTuple by id": nil, "GetTuple latest": nil, "List": nil, "Load": nil, "Latest": nil}) {
			t.Fatalf("%s record restored: reads %v, %v", rec.kind, got, errs)
		}
	}
	if corrupt == 0 {
		t.Fatal("no read returned ErrCorrupt: the test proves nothing")
	}
}

// TestKeyedSumNeedsItsKey: a record of each kind, as this build writes it
// and as format 5 did, fails its check under any other key (one changed
// byte), and a record of format 4 or 3, whose sum does not cover its key,
// still reads under any.
func TestKeyedSumNeedsItsKey(t *testing.T) {
	t.Parallel()
	key := blobKey("", "messages", "01JABCDEFGHJKMNPQRSTVWXYZ0")
	ts := seedOf("t")
	for _, v := range []byte{checkpointRecordT, metadataRecordT, writeRecordT, writeRecordT4, blobRecordT, segmentRecordT, segmentRecordT4,
		checkpointRecordK, metadataRecordK, writeRecordK, writeRecordK4, blobRecordK, segmentRecordK, segmentRecordK4} {
		rec := appendSum(ts, key, []byte{v, 0x90})
		if _, err := checkSum("record", ts, key, rec); err != nil {
			t.Fatalf("version %#x under its key: %v", v, err)
		}
		for i := range key {
			other := bytes.Clone(key)
			other[i] ^= 0x01
			if _, err := checkSum("record", ts, other, rec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("version %#x under its key with byte %d changed: %v, want ErrCorrupt", v, i, err)
			}
		}
		if _, err := checkSum("record", ts, nil, rec); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("version %#x under no key: %v, want ErrCorrupt", v, err)
		}
	}
	for _, v := range []byte{checkpointRecordX, blobRecordX, checkpointRecordV2, blobRecordV3} {
		rec := appendSum(ts, nil, []byte{v, 0x90})
		if _, err := checkSum("record", ts, key, rec); err != nil {
			t.Fatalf("version %#x (its sum without the key) under a key: %v", v, err)
		}
	}
}

// TestThreadedSumNeedsItsThread: a record of each kind, as this build
// writes it, fails its check in any other thread (one changed byte of the
// id, another id, none), and a record of format 5, 4 or 3, whose sum does
// not cover its thread, still reads in any.
func TestThreadedSumNeedsItsThread(t *testing.T) {
	t.Parallel()
	key := blobKey("", "messages", "01JABCDEFGHJKMNPQRSTVWXYZ0")
	thread := "thread-1"
	for _, v := range []byte{checkpointRecordT, metadataRecordT, writeRecordT, writeRecordT4, blobRecordT, segmentRecordT, segmentRecordT4} {
		rec := appendSum(seedOf(thread), key, []byte{v, 0x90})
		if _, err := checkSum("record", seedOf(thread), key, rec); err != nil {
			t.Fatalf("version %#x in its thread: %v", v, err)
		}
		others := []string{"", "thread-2", "thread-10", "Thread-1"}
		for i := range thread {
			b := []byte(thread)
			b[i] ^= 0x01
			others = append(others, string(b))
		}
		for _, other := range others {
			if _, err := checkSum("record", seedOf(other), key, rec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("version %#x in thread %q: %v, want ErrCorrupt", v, other, err)
			}
		}
	}
	for _, v := range []byte{checkpointRecordK, blobRecordK, checkpointRecordX, blobRecordX, checkpointRecordV2, blobRecordV3} {
		rec := appendSum(seedOf(thread), key, []byte{v, 0x90})
		if _, err := checkSum("record", seedOf("another"), key, rec); err != nil {
			t.Fatalf("version %#x (its sum without the thread) in another thread: %v", v, err)
		}
	}
}

// TestImportSumsRecordsUnderTheirKeys: a dump of a file of format 3, 4 or
// 5 (sums without the key or the thread) imported into a new store is
// written with sums that cover keys and threads, and reads back the same.
func TestImportSumsRecordsUnderTheirKeys(t *testing.T) {
	t.Parallel()
	for _, from := range []uint32{3, 4, 5} {
		path, want := formatFile(t, from)
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		dump := export(t, ro)
		_ = ro.Close()
		s, err := Open(path+".imported", Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(context.Background(), bytes.NewReader(dump), ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := storeState(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("format %d imported: reads back otherwise", from)
		}
		if crc, xxh, keyed, threaded := recordSums(t, s); crc+xxh+keyed != 0 || threaded == 0 {
			t.Fatalf("format %d imported: %d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", from, crc, xxh, keyed, threaded)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
