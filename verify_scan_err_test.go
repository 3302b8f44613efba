package ckpt

// A scan of one of a thread's buckets that stops on damage (engine's
// Scan: ErrCorrupt at the first key out of order, the keys after it
// never seen) leaves that bucket partly unchecked. Verify's thread checks
// dropped those errors, so a thread whose bucket they could not read
// through was counted sound (not in DamagedThreads) when nothing else of
// it was wrong: on a read-only handle of a file with a page cycle
// elsewhere (confined damage: the page check's own report of the bad key
// order names no thread), `ckpt verify` said "N sound" with it among
// them.

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// scanFailingReader fails every Scan of the bucket named sub (the last
// element of a thread's bucket path) after its first key, as a scan that
// meets a key out of order does.
type scanFailingReader struct {
	reader
	sub []byte
}

func (r scanFailingReader) Scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if len(p) != 3 || !bytes.Equal(p[2], r.sub) {
		return r.reader.Scan(p, prefix, start, reverse, fn)
	}
	n := 0
	err := r.reader.Scan(p, prefix, start, reverse, func(k, v []byte) error {
		if n++; n > 1 {
			return fmt.Errorf("%w: keys out of order (test)", ErrCorrupt)
		}
		return fn(k, v)
	})
	return err
}

func TestVerifyThreadChecksReportAScanStoppedByDamage(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, Options{})
	const thread = "t"
	for i := range 4 {
		id, err := s.Save(ctx, thread, map[string]any{"n": i, "msgs": []any{"a", i}}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{ThreadID: thread, CheckpointID: id}
		if err := s.PutWrites(ctx, cfg, []Write{{Channel: "w", Value: i}, {Channel: "x", Value: i}}, "task", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checks := map[string]func(r reader, rep *VerifyReport){
		"verifyThread":     func(r reader, rep *VerifyReport) { verifyThread(r, nil, thread, rep) },
		"verifyRecordSums": func(r reader, rep *VerifyReport) { verifyRecordSums(r, thread, rep) },
		"verifyTallies":    func(r reader, rep *VerifyReport) { verifyTallies(r, thread, rep) },
		"verifyNamespaces": func(r reader, rep *VerifyReport) { verifyNamespaces(r, thread, rep) },
	}
	// Which check scans which bucket, so that each stopped scan is one a
	// check meets.
	scans := map[string][]string{
		string(bucketCheckpoints): {"verifyThread", "verifyRecordSums"},
		string(bucketMetadata):    {"verifyThread", "verifyRecordSums"},
		string(bucketBlobs):       {"verifyThread", "verifyRecordSums"},
		string(bucketWrites):      {"verifyThread", "verifyRecordSums", "verifyTallies"},
		string(bucketOrder):       {"verifyThread", "verifyNamespaces"},
		string(bucketSegments):    {"verifyRecordSums"},
	}
	err := s.view(ctx, func(r reader) error {
		// The store is sound: no check reports anything.
		for name, check := range checks {
			rep := &VerifyReport{}
			check(r, rep)
			if !rep.OK() {
				t.Fatalf("%s of a sound thread: %v", name, rep.Problems)
			}
		}
		for sub, names := range scans {
			n := 0
			if err := r.Scan(threadPath(thread, []byte(sub)), nil, nil, false, func(k, v []byte) error { n++; return nil }); err != nil || n < 2 {
				t.Fatalf("bucket %s holds %d keys (%v): the test needs two", sub, n, err)
			}
			for _, name := range names {
				rep := &VerifyReport{}
				checks[name](scanFailingReader{r, []byte(sub)}, rep)
				found := false
				for _, p := range rep.Problems {
					found = found || p.Thread == thread
				}
				if !found {
					t.Errorf("%s, its scan of %s stopped by damage after one key: no problem naming the thread (%v): the rest of the bucket went unchecked and the thread counts as sound", name, sub, rep.Problems)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
