package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// storedRecord is one record of a thread as bbolt holds it.
type storedRecord struct {
	kind string // the sub-bucket: cp, md, wr, bl, ls
	path bucketPath
	key  []byte
	val  []byte
}

// everyKindStore makes a store holding one checkpoint of thread "t" with a
// record of every kind: the checkpoint, its metadata, a pending write, a
// whole value and a list channel (a list-reference blob and a list
// segment). format3 rewrites them as format 3 did (CRC-32C sums).
func everyKindStore(t *testing.T, format3 bool) (*Store, Config, []storedRecord) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "kinds.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	vers := map[string]string{"text": "1", "items": "1"}
	cfg, err := s.Put(ctx, Config{ThreadID: "t"},
		Checkpoint{ChannelValues: map[string]any{"text": "hi", "items": []any{"a", int64(2)}}, ChannelVersions: vers},
		Metadata{"node": "n"}, vers)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "text", Value: "w"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if format3 {
		toFormat3(t, s)
	}
	var recs []storedRecord
	err = s.view(ctx, func(r reader) error {
		for _, sub := range sealedSubBuckets {
			p := threadPath("t", sub)
			if err := r.Scan(p, nil, nil, false, func(k, v []byte) error {
				recs = append(recs, storedRecord{string(sub), p, bytes.Clone(k), bytes.Clone(v)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, rec := range recs {
		kinds[rec.kind]++
	}
	for _, sub := range sealedSubBuckets {
		if kinds[string(sub)] == 0 {
			t.Fatalf("no %s record stored: %v", sub, kinds)
		}
	}
	if kinds[string(bucketBlobs)] < 2 {
		t.Fatalf("want a whole value's and a list's blob records: %v", kinds)
	}
	if crc, xxh, keyed, _ := recordSums(t, s); format3 && xxh+keyed != 0 || !format3 && crc+xxh+keyed != 0 {
		t.Fatalf("format3=%v: %d records with CRC-32C, %d with XXH3, %d with the key", format3, crc, xxh, keyed)
	}
	return s, cfg, recs
}

// putRecord stores val under rec's key.
func putRecord(t *testing.T, s *Store, rec storedRecord, val []byte) {
	t.Helper()
	if err := s.write(context.Background(), func(w writer) error { return w.Put(rec.path, rec.key, val) }); err != nil {
		t.Fatal(err)
	}
}

// recordReads are the public reads of the checkpoint, each returning what
// it read.
func recordReads(s *Store, cfg Config) map[string]func() (any, error) {
	ctx := context.Background()
	snapshot := func(snap *Snapshot, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		state, err := snap.StateMap()
		return []any{snap.CheckpointID, snap.ParentID, snap.Metadata, state}, err
	}
	return map[string]func() (any, error){
		"GetTuple by id": func() (any, error) { return s.GetTuple(ctx, cfg) },
		"GetTuple latest": func() (any, error) {
			return s.GetTuple(ctx, Config{ThreadID: cfg.ThreadID})
		},
		"List": func() (any, error) {
			var out []*Tuple
			for tp, err := range s.List(ctx, ListOptions{ThreadID: cfg.ThreadID}) {
				if err != nil {
					return nil, err
				}
				out = append(out, tp)
			}
			return out, nil
		},
		"List in a namespace": func() (any, error) { // walks the checkpoint bucket (selector.inNS)
			var out []*Tuple
			for tp, err := range s.List(ctx, ListOptions{ThreadID: cfg.ThreadID, Namespace: NS(cfg.CheckpointNS)}) {
				if err != nil {
					return nil, err
				}
				out = append(out, tp)
			}
			return out, nil
		},
		"Load":   func() (any, error) { return snapshot(s.Load(ctx, cfg.ThreadID, cfg.CheckpointID)) },
		"Latest": func() (any, error) { return snapshot(s.Latest(ctx, cfg.ThreadID)) },
	}
}

// TestEveryBitFlipOfEveryRecordKindFails flips, one at a time, every bit of
// one stored record of every kind (checkpoint, metadata, pending write, a
// whole value's blob, a list's blob, a list segment), with the sums of
// format 4 (XXH3) and of format 3 (CRC-32C): every read (each reads every
// kind: Load and Latest look at the pending writes too) returns ErrCorrupt,
// never a value and never nil; a bit of the version byte may instead give
// ErrFormatVersion (a version no build writes).
func TestEveryBitFlipOfEveryRecordKindFails(t *testing.T) {
	t.Parallel()
	for _, format3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("format3=%v", format3), func(t *testing.T) {
			t.Parallel()
			s, cfg, recs := everyKindStore(t, format3)
			reads := recordReads(s, cfg)
			want := map[string]any{}
			for name, read := range reads {
				got, err := read()
				if err != nil {
					t.Fatalf("%s before any flip: %v", name, err)
				}
				want[name] = got
			}
			for _, rec := range recs {
				for bit := range len(rec.val) * 8 {
					flipped := bytes.Clone(rec.val)
					flipped[bit/8] ^= 1 << (bit % 8)
					putRecord(t, s, rec, flipped)
					for name, read := range reads {
						got, err := read()
						// A flipped version byte may name a version no
						// build writes: ErrFormatVersion (codec.go: a
						// record's shape can change without a new format).
						if !errors.Is(err, ErrCorrupt) && !(bit < 8 && errors.Is(err, ErrFormatVersion)) {
							t.Fatalf("%s record %x (%d bytes), bit %d flipped: %s returned %v (error %v), want ErrCorrupt",
								rec.kind, rec.key, len(rec.val), bit, name, got, err)
						}
					}
				}
				putRecord(t, s, rec, rec.val)
				for name, read := range reads {
					if got, err := read(); err != nil || !reflect.DeepEqual(got, want[name]) {
						t.Fatalf("%s record restored: %s returned %v, %v", rec.kind, name, got, err)
					}
				}
			}
		})
	}
}

// TestVerifyListsAFlippedRecordOfEveryKind: with any one bit of a record of
// any kind flipped (as in TestEveryBitFlipOfEveryRecordKindFails), Verify
// lists a problem of thread "t" of that record's check, and is clean again
// once the record is restored.
func TestVerifyListsAFlippedRecordOfEveryKind(t *testing.T) {
	t.Parallel()
	checks := map[string][]string{ // the checks that may list a kind
		string(bucketCheckpoints): {"checkpoint"},
		string(bucketMetadata):    {"metadata"},
		string(bucketWrites):      {"write"},
		string(bucketBlobs):       {"value"},
		string(bucketSegments):    {"value"},
	}
	for _, format3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("format3=%v", format3), func(t *testing.T) {
			t.Parallel()
			s, _, recs := everyKindStore(t, format3)
			verify := func() *VerifyReport {
				t.Helper()
				rep, err := s.Verify(context.Background(), VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			if rep := verify(); !rep.OK() {
				t.Fatalf("Verify before any flip: %v", rep.Problems)
			}
			for _, rec := range recs {
				for bit := range len(rec.val) * 8 {
					flipped := bytes.Clone(rec.val)
					flipped[bit/8] ^= 1 << (bit % 8)
					putRecord(t, s, rec, flipped)
					rep := verify()
					listed := false
					for _, p := range rep.Problems {
						listed = listed || p.Thread == "t" && slices.Contains(checks[rec.kind], p.Check)
					}
					if !listed {
						t.Fatalf("%s record %x, bit %d flipped: Verify lists %v", rec.kind, rec.key, bit, rep.Problems)
					}
				}
				putRecord(t, s, rec, rec.val)
				if rep := verify(); !rep.OK() {
					t.Fatalf("%s record restored: Verify lists %v", rec.kind, rep.Problems)
				}
			}
		})
	}
}
