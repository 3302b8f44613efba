package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// openUnapplied opens a store whose applier is held (engine.Hooks), so every group
// stays in the log and the overlay only: what a crash before the applier
// ran leaves behind.
func openUnapplied(t *testing.T, path string) *Store {
	t.Helper()
	return openUnappliedWith(t, path, Options{})
}

// openUnappliedWith is openUnapplied with opts.
func openUnappliedWith(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	tune := tuning{}
	if opts.tuning != nil {
		tune = *opts.tuning
	}
	tune.hooks.HoldApplier = true
	opts.tuning = &tune
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// crashCopy copies the store file and its log as a crash would leave them
// (bbolt's file is consistent: nothing writes it while the applier is
// stopped).
func crashCopy(t *testing.T, s *Store) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy.db")
	for _, suffix := range []string{"", walSuffix} {
		copyFileIn(t, s.path+suffix, dst+suffix)
	}
	return dst
}

// copyFileIn copies the file from to to (created 0o600, or truncated),
// file to file (copy_file_range on Linux), with no buffer in the process:
// under -race a file read into memory and written out again costs the
// detector's shadow of every byte twice (a 2 MiB file took 40 times the
// CPU of a plain build, most of it in the kernel mapping shadow pages),
// and the damage tests copy a store for every case. (copyFile in
// spec14_flip_test.go is the same for package ckpt_test.)
func copyFileIn(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// applyNow applies every logged group from within the commit loop
// (ApplyLog: a solo op applies before it runs), as Compact does.
func applyNow(t *testing.T, s *Store) {
	t.Helper()
	if err := s.ApplyLog(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// logSpans returns the records of the log at path that hold a group, in
// order: the proofs between them (a record after a group that says it
// was durable, engine/wal.go) are left out.
func logSpans(t *testing.T, path string) []engine.RecordSpan {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.RecordSpan
	for _, r := range engine.RecordSpans(data) {
		if !r.Proof {
			out = append(out, r)
		}
	}
	return out
}

// logEnds returns where each group's record of the log at path ends (the
// log must start with its first record: a store's first pass).
func logEnds(t *testing.T, path string) []int64 {
	t.Helper()
	var ends []int64
	for _, r := range logSpans(t, path) {
		ends = append(ends, r.End)
	}
	return ends
}

// withoutProofAfter zeroes the proof that follows the record ending at
// end, if one does: the log as a crash before the proof was written
// leaves it (a torn record, or one cut short, has none after it). Call it
// before the record is damaged: the chain ends at a damaged record.
func withoutProofAfter(log []byte, end int64) {
	for _, r := range engine.RecordSpans(log) {
		if r.Proof && r.Off == end {
			clear(log[r.Off:r.End])
			end = r.End // and the second proof a block on (log version 5)
		}
	}
}

func saveN(t *testing.T, s *Store, thread string, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		id, err := s.Save(context.Background(), thread, map[string]any{"i": i, "msgs": make([]int, i%7)}, Metadata{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func checkLoads(t *testing.T, s *Store, thread string, ids []string) {
	t.Helper()
	for i, id := range ids {
		snap, err := s.Load(context.Background(), thread, id)
		if err != nil {
			t.Fatalf("checkpoint %d (%s): %v", i, id, err)
		}
		if snap.Metadata["i"] == nil {
			t.Fatalf("checkpoint %d: metadata %v", i, snap.Metadata)
		}
	}
}

// recoveredStoreWorks checks a store file after RecoverLog: it opens
// read-write with thread's checkpoints ids, takes two more saves (from
// from), and opens read-only with all of them and a clean Verify.
func recoveredStoreWorks(t *testing.T, path, thread string, ids []string, from int) {
	t.Helper()
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	checkLoads(t, w, thread, ids)
	more := saveN(t, w, thread, from, 2)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, thread, append(ids, more...))
	if rep, err := r.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify after RecoverLog = %+v, %v", rep, err)
	}
}

func TestLogReplayedAfterCrash(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	ids := saveN(t, s, "t", 0, 20)
	checkLoads(t, s, "t", ids) // read through the overlay
	if s.eng.Applied() != 0 {
		t.Fatal("the stopped applier applied")
	}
	cp := crashCopy(t, s)
	r, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, r, "t", ids)
	more := saveN(t, r, "t", 20, 5)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cp + walSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a clean Close left the log: %v", err)
	}
	r, err = Open(cp, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, "t", append(ids, more...))
}

func TestLogTornTailLosesOnlyTheTornGroup(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	ids := saveN(t, s, "t", 0, 10)
	cp := crashCopy(t, s)
	// Cut the last record short, as a crash during its write would: its
	// second half never written, the zeros the log grew by (fsync'd before
	// the record was written) still after it.
	ends := logEnds(t, cp+walSuffix)
	if len(ends) != 10 {
		t.Fatalf("%d records logged, want 10", len(ends))
	}
	log, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	withoutProofAfter(log, ends[9]) // written once the record was durable
	clear(log[(ends[8]+ends[9])/2 : ends[9]])
	if err := os.WriteFile(cp+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, "t", ids[:9])
	if _, err := r.Load(context.Background(), "t", ids[9]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("torn group: %v, want ErrNotFound", err)
	}
	// The thread goes on from the last whole group.
	snap, err := r.Latest(context.Background(), "t")
	if err != nil || snap.CheckpointID != ids[8] {
		t.Fatalf("latest %v %v, want %s", snap, err, ids[8])
	}
}

func TestLogRewoundLeavesStaleRecordsBehind(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	first := saveN(t, s, "t", 0, 12)
	// Apply and prune everything: the log starts again at its beginning,
	// over the first pass's records.
	applyNow(t, s)
	second := saveN(t, s, "t", 12, 3)
	cp := crashCopy(t, s)
	groups, err := engine.ReadLog(cp+walSuffix, 12)
	if err != nil || len(groups) != 3 || groups[0].Gen != 13 {
		t.Fatalf("ReadLog: %d groups (first %v), %v; want gens 13-15", len(groups), groups, err)
	}
	// The log was rewound: group 13's record is its first (chained to the
	// header's checksum), and the first pass's records follow group 15's.
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	spans := engine.RecordSpans(data)
	var gens []uint64
	for _, r := range spans {
		if !r.Proof {
			gens = append(gens, r.Gen)
		}
	}
	if len(spans) == 0 || spans[0].Off != engine.HeaderSize || !slices.Equal(gens, []uint64{13, 14, 15}) {
		t.Fatalf("the log's chain %+v: want groups 13-15 from its header on (the log was not rewound)", spans)
	}
	end := spans[len(spans)-1].End
	if !slices.ContainsFunc(data[end:], func(b byte) bool { return b != 0 }) {
		t.Fatal("no stale record after the second pass: the test proves nothing")
	}
	r, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, "t", append(first, second...))
}

func TestReadOnlyOpenReadsTheLog(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	ids := saveN(t, s, "t", 0, 5)
	cp := crashCopy(t, s)
	before, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(cp, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, r, "t", ids)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(cp + walSuffix)
	if err != nil || string(after) != string(before) {
		t.Fatalf("a read-only open changed the log (%v)", err)
	}
}

func TestLogThatSkipsGroupsIsCorrupt(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	saveN(t, s, "t", 0, 4)
	applyNow(t, s)
	saveN(t, s, "t", 4, 2) // gens 5 and 6, at the log's start
	cp := crashCopy(t, s)
	// A fresh store holds no group: a log starting at group 5 lost 1-4.
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	f, err := Open(fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fresh+walSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(fresh, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// A failed fsync of the log fails the groups waiting for it, shows readers
// none of their changes, and loses nothing acknowledged; the store then
// refuses every write (fail-stop) until reopened, and a reopen finds
// exactly the last good head and writes on from it.
func TestLogFsyncFailureFailsTheGroupInFlight(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	syncLog := func(f *os.File) error {
		if fail.Swap(false) {
			return errors.New("disk on fire")
		}
		return engine.Fdatasync(f)
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: syncLog}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := saveN(t, s, "t", 0, 3)
	fail.Store(true)
	if _, err := s.Save(ctx, "t", map[string]any{"i": 99}, Metadata{"i": 99}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Save with a failing fsync = %v", err)
	}
	if snap, err := s.Latest(ctx, "t"); err != nil || snap.CheckpointID != good[2] {
		t.Fatalf("after the failure the head is %v (%v), want %s", snap, err, good[2])
	}
	applyNow := func() error { // as Compact does: drains the commit loop first
		return s.ApplyLog(ctx)
	}
	if err := applyNow(); !errors.Is(err, ErrFailed) {
		t.Fatalf("a solo op after the failure = %v, want ErrFailed", err)
	}
	// That nothing is logged after the failure (neither the failed
	// group's log space nor its number is used again) is the engine's
	// TestNothingIsLoggedAfterAFailedFsync.
	_, err = s.Save(ctx, "t", map[string]any{"i": 3}, Metadata{"i": 3})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("the next write after a failed fsync = %v, want ErrFailed wrapping the cause", err)
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close of the failed store = %v, want ErrFailed", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", good)
	next := saveN(t, s, "t", 3, 1)
	if snap, err := s.Load(ctx, "t", next[0]); err != nil || snap.ParentID != good[2] {
		t.Fatalf("the next write after reopen: %v (%v), want parent %s", snap, err, good[2])
	}
	n := 0
	for _, err := range s.History(ctx, "t", ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d checkpoints after reopen, want 4", n)
	}
}

// loggedRecords saves n checkpoints, one group each, into a store whose
// applier is stopped, and returns their ids and where each group's record
// starts and ends in the log. The log grows by loggedGrow, not 4 MiB: the
// records and the zeros after them are all the tests read, and every case
// copies, reads and scans the whole file (under -race a 4 MiB log cost
// about 0.5 CPU s a case, most of it the detector's shadow of the bytes).
func loggedRecords(t *testing.T, n int) (s *Store, ids []string, starts, ends []int64) {
	t.Helper()
	s = openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	ids = saveN(t, s, "t", 0, n)
	spans := logSpans(t, crashCopy(t, s)+walSuffix)
	if len(spans) != n {
		t.Fatalf("%d records logged, want %d (one group per Save)", len(spans), n)
	}
	for _, r := range spans {
		starts, ends = append(starts, r.Off), append(ends, r.End)
	}
	return s, ids, starts, ends
}

// withLog copies the store beside a crash copy, puts log in place of the
// copy's log, and returns the copy's path.
func withLog(t *testing.T, s *Store, log []byte) string {
	t.Helper()
	cp := crashCopy(t, s)
	if err := os.WriteFile(cp+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp
}

// loggedGrow is how much the log of loggedRecords grows at a time: past
// the records of its callers (30 groups at most, 119 KiB), so the log
// grows once, as with 4 MiB, and holds them and preallocated zeros after
// them.
const loggedGrow = 256 << 10

func readBoth(t *testing.T, path string) (db, log []byte) {
	t.Helper()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err = os.ReadFile(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	return db, log
}

// One flipped byte inside a record with valid records after it is
// corruption, not a torn tail: Open fails with ErrCorrupt naming the
// record's offset and group, and changes neither file.
func TestLogFlippedByteWithRecordsAfterIsCorrupt(t *testing.T) {
	t.Parallel()
	s, _, starts, ends := loggedRecords(t, 30)
	_, log := readBoth(t, crashCopy(t, s))
	for k := range 20 {
		rec := k // records 0-19: at least 10 valid records follow each
		size := ends[rec] - starts[rec]
		// Spread over the record: its first byte, its last, and between.
		pos := starts[rec] + int64(k*7919)%size
		switch k {
		case 0:
			pos = starts[rec]
		case 1:
			pos = ends[rec] - 1
		}
		t.Run(fmt.Sprintf("record%d_byte%d", rec, pos-starts[rec]), func(t *testing.T) {
			bad := bytes.Clone(log)
			bad[pos] ^= 0x5a
			cp := withLog(t, s, bad)
			db0, log0 := readBoth(t, cp)
			r, err := Open(cp, Options{})
			if err == nil {
				_ = r.Close()
				t.Fatal("Open of a log damaged in the middle succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			for _, want := range []string{fmt.Sprintf("offset %d", starts[rec]), fmt.Sprintf("group %d", rec+1)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not name %q: %v", want, err)
				}
			}
			db1, log1 := readBoth(t, cp)
			if !bytes.Equal(log0, log1) {
				t.Error("Open changed the damaged log")
			}
			if !bytes.Equal(db0, db1) {
				t.Error("Open changed the store file")
			}
		})
	}
}

// A record cut short by a crash is the last thing in the log, with the
// preallocated zeros (or the end of the file, or the unwritten middle of
// the record) after it: it was never acknowledged, and Open drops it.
func TestLogTornTailAtAnyLengthOpens(t *testing.T) {
	t.Parallel()
	s, ids, starts, ends := loggedRecords(t, 6)
	_, log := readBoth(t, crashCopy(t, s))
	last := len(ids) - 1
	size := ends[last] - starts[last]
	for k := range 20 {
		cut := starts[last] + int64(k)*size/20 // 0 .. size-1 bytes of the record written
		t.Run(fmt.Sprintf("cut%d", cut-starts[last]), func(t *testing.T) {
			var torn []byte
			switch k % 3 {
			case 0: // the file ends there: only a log of version 1 (older
				// builds) is left so by a crash (TestLogCutShortIsNeverSilent)
				torn = bytes.Clone(log[:cut])
				engine.ForgeLogVersion(torn, 1)
			case 1: // zeros after it, as preallocated
				torn = bytes.Clone(log)
				clear(torn[cut:])
			case 2: // the record's end was written, its middle was not
				// (nor the proof after it, written once it was durable)
				torn = bytes.Clone(log)
				withoutProofAfter(torn, ends[last])
				clear(torn[cut : cut+max(1, (ends[last]-cut)/2)])
			}
			r, err := Open(withLog(t, s, torn), Options{})
			if err != nil {
				t.Fatalf("Open of a log with a torn tail: %v", err)
			}
			defer r.Close()
			checkLoads(t, r, "t", ids[:last])
			if _, err := r.Load(context.Background(), "t", ids[last]); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the torn group: %v, want ErrNotFound", err)
			}
		})
	}
}

// A log whose header (its identity) is damaged while records follow is
// corrupt; a group number that skips is corrupt.
func TestLogDamagedHeaderOrSkippedGroupIsCorrupt(t *testing.T) {
	t.Parallel()
	s, _, starts, _ := loggedRecords(t, 4)
	_, log := readBoth(t, crashCopy(t, s))
	for _, pos := range []int{0, 5, 9, 13, 17, 23} { // magic, version, crc, identity
		hdr := bytes.Clone(log)
		hdr[pos] ^= 1
		if _, err := Open(withLog(t, s, hdr), Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with header byte %d damaged = %v, want ErrCorrupt", pos, err)
		}
	}
	// A header alone (a log created, nothing logged: followed by a record
	// header's worth of zeros; of version 1, by nothing) holds nothing.
	v1 := bytes.Clone(log[:engine.HeaderSize])
	engine.ForgeLogVersion(v1, 1)
	created := append(bytes.Clone(log[:engine.HeaderSize]), make([]byte, engine.RecordHeaderSize)...)
	for name, l := range map[string][]byte{"header": created, "header v1": v1} {
		r, err := Open(withLog(t, s, l), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = r.Close()
	}
	// A log shorter than its header (cut inside it, or an old-format log
	// whose first append was cut short) beside a file that says its log is
	// live cannot be a crash's (the mark is set once the log's header is
	// durable): the log's groups are gone, and Open says so as for a
	// missing log (loglive_empty_test.go: without the mark, such a log holds
	// nothing, as before).
	for name, l := range map[string][]byte{"cut": log[:10], "old torn": {0, 0, 0, 40, 1, 2, 3}} {
		if _, err := Open(withLog(t, s, l), Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("%s: Open = %v, want ErrCorrupt: the log is missing", name, err)
		}
	}
	// Re-encode record 3 (group 3) as group 4, with valid checksums.
	groups, err := engine.ReadLog(crashCopy(t, s)+walSuffix, 0)
	if err != nil || len(groups) != 4 {
		t.Fatalf("ReadLog: %d groups, %v", len(groups), err)
	}
	id := binary.BigEndian.Uint64(log[16:])
	seed := binary.BigEndian.Uint32(log[starts[2]+16:])
	skip := bytes.Clone(log[:starts[2]])
	skip, _ = engine.ForgeRecord(skip, id, seed, 4, groups[2].Muts)
	skip = append(skip, make([]byte, engine.RecordHeaderSize)...)
	if _, err := Open(withLog(t, s, skip), Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "follows group 2") {
		t.Fatalf("Open of a log that skips group 3 = %v, want ErrCorrupt", err)
	}
}

// A store that crashed under the previous build leaves a log without a
// header: this build replays it, so the upgrade loses nothing.
func TestLegacyLogIsReplayed(t *testing.T) {
	t.Parallel()
	s, ids, _, _ := loggedRecords(t, 8)
	cp := crashCopy(t, s)
	groups, err := engine.ReadLog(cp+walSuffix, 0)
	if err != nil || len(groups) != 8 {
		t.Fatalf("ReadLog: %d groups, %v", len(groups), err)
	}
	var old []byte
	for _, g := range groups {
		old = engine.ForgeLegacyRecord(old, g.Gen, g.Muts)
	}
	// A torn legacy record and the preallocated zeros end it.
	old = append(old, engine.ForgeLegacyRecord(nil, 9, groups[0].Muts)[:11]...)
	old = append(old, make([]byte, 4096)...)
	up := withLog(t, s, old)
	r, err := Open(up, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, r, "t", ids)
	more := saveN(t, r, "t", 8, 2)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = Open(up, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, "t", append(ids, more...))
}
