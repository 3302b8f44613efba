package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// logSweepCase is a crash copy of a store killed with groups logged and not
// applied, and what a sweep over its log expects.
type logSweepCase struct {
	name   string
	dir    string
	db     []byte // the store file as the crash left it
	wal    []byte // its log, up to the last non-zero byte (then zeros)
	full   []byte // its log as the crash left it
	walLen int
	ids    []string // every acknowledged checkpoint, in order (thread "t")
	// The records the replay starts from (after bbolt's mark): each
	// covers [start, end) of the log, and its checkpoint is ids[first+k].
	first      int
	start, end []int
	// mustOpen: a crash may leave the log so; ErrCorrupt is a false
	// refusal.
	mustOpen bool
}

// newLogSweepCase saves applied checkpoints, applies them, and then
// logged ones the applier never takes (with stale records of the first
// pass left after the second when applied > 0).
func newLogSweepCase(t *testing.T, name string, applied, logged int) *logSweepCase {
	t.Helper()
	dir := t.TempDir()
	s := openUnapplied(t, filepath.Join(dir, "s.db"))
	var ids []string
	if applied > 0 {
		ids = saveN(t, s, "t", 0, applied)
		applyNow(t, s)
	}
	ids = append(ids, saveN(t, s, "t", applied, logged)...)
	cp := crashCopy(t, s)
	c := &logSweepCase{name: name, dir: dir, ids: ids, first: applied}
	var err error
	if c.db, err = os.ReadFile(cp); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	c.walLen = len(wal)
	c.full = wal
	c.wal = bytes.TrimRight(wal, "\x00")
	groups, err := engine.ReadLog(cp+walSuffix, uint64(applied))
	if err != nil || len(groups) != logged {
		t.Fatalf("%s: %d groups logged (%v), want %d", name, len(groups), err, logged)
	}
	for _, r := range logSpans(t, cp+walSuffix) {
		c.start = append(c.start, int(r.Off))
		c.end = append(c.end, int(r.End))
	}
	return c
}

// check opens the copy (read-write and read-only) with wal as its log and
// checks the outcome: ErrCorrupt with both files unchanged, or every
// acknowledged checkpoint with exactly its values (the last logged one
// too: the proof after its record says it was durable); never a wrong
// value, never a hole.
func (c *logSweepCase) check(t *testing.T, what string, wal []byte) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(c.dir, "sweep.db")
	for _, ro := range []bool{false, true} {
		if err := os.WriteFile(path, c.db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+walSuffix, wal, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{ReadOnly: ro})
		if err != nil {
			if c.mustOpen {
				t.Errorf("%s, %s, read-only %v: Open = %v, want success (a crash may leave the log so)", c.name, what, ro, err)
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s, %s, read-only %v: Open = %v, want ErrCorrupt or success", c.name, what, ro, err)
				continue
			}
			db, _ := os.ReadFile(path)
			got, _ := os.ReadFile(path + walSuffix)
			if !bytes.Equal(db, c.db) || !bytes.Equal(got, wal) {
				t.Errorf("%s, %s, read-only %v: the refused Open changed the files", c.name, what, ro)
			}
			continue
		}
		missing := -1
		for i, id := range c.ids {
			snap, err := s.Load(ctx, "t", id)
			if errors.Is(err, ErrNotFound) {
				if missing < 0 {
					missing = i
				}
				continue
			}
			if err != nil {
				t.Errorf("%s, %s, read-only %v: checkpoint %d: %v", c.name, what, ro, i, err)
				continue
			}
			if missing >= 0 {
				t.Errorf("%s, %s, read-only %v: checkpoint %d is missing but %d after it is there", c.name, what, ro, missing, i)
			}
			var v int
			var msgs []int
			if err := snap.Decode("i", &v); err != nil || v != i {
				t.Errorf("%s, %s, read-only %v: checkpoint %d reads i=%d (%v)", c.name, what, ro, i, v, err)
			}
			if err := snap.Decode("msgs", &msgs); err != nil || len(msgs) != i%7 {
				t.Errorf("%s, %s, read-only %v: checkpoint %d reads msgs=%v (%v)", c.name, what, ro, i, msgs, err)
			}
			if fmt.Sprint(snap.Metadata["i"]) != fmt.Sprint(i) {
				t.Errorf("%s, %s, read-only %v: checkpoint %d reads metadata %v", c.name, what, ro, i, snap.Metadata)
			}
		}
		if missing >= 0 {
			t.Errorf("%s, %s, read-only %v: Open succeeded without checkpoints %d-%d (acknowledged; %d logged, replay from %d)",
				c.name, what, ro, missing, len(c.ids)-1, len(c.ids), c.first)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s, %s, read-only %v: Close: %v", c.name, what, ro, err)
		}
		if !ro {
			// Read-write, the replay went into the file: it must verify.
			r, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Errorf("%s, %s: reopen after the replay: %v", c.name, what, err)
				continue
			}
			if rep, err := r.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
				t.Errorf("%s, %s: Verify after the replay: %+v, %v", c.name, what, rep, err)
			}
			_ = r.Close()
		}
	}
}

// TestLogEveryFlippedByte: a store killed with groups logged and not
// applied, then one byte of its log flipped, at every position of the
// records and of the stale records of an earlier pass after them (and a
// little of the zeros past them): refused, or every acknowledged Save
// read back exactly. Up to the thirteenth session the last Save could go
// (its record, damaged, read as a torn tail); the proof after it (log
// version 4) says it was durable.
func TestLogEveryFlippedByte(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("opens each store twice per byte of its log")
	}
	// Under -race every 6th of the positions below (raceSample): one
	// damaged log opened at a time, nothing here runs beside it but the
	// store's own goroutines; CI's plain command flips every one.
	keep, seen, flipped := raceSample(t, 6), 0, 0
	defer func() { t.Logf("%d of %d positions flipped", flipped, seen) }()
	for _, c := range []*logSweepCase{
		newLogSweepCase(t, "first pass", 0, 4),
		newLogSweepCase(t, "second pass", 6, 3),
	} {
		// Every byte of the log's header and of each record's header, and
		// every eleventh byte elsewhere (every byte: 4,280 positions, 70 s
		// without -race; they held on 2026-12-03).
		// A padded proof's zeros (log version 5: up to 4 KiB after each
		// Save) every 257th byte: they are alike, and would more than
		// double the positions.
		heads, padding := map[int]bool{}, map[int]bool{}
		for _, st := range append([]int{0}, c.start...) {
			for p := st; p < st+engine.HeaderSize; p++ {
				heads[p] = true
			}
		}
		for _, r := range engine.RecordSpans(c.wal) {
			if r.Proof {
				for p := int(r.Off) + engine.RecordHeaderSize + 8; p < int(r.End); p++ {
					padding[p] = true
				}
			}
		}
		for pos := 0; pos < len(c.wal)+16 && pos < c.walLen; pos++ {
			if !heads[pos] && (pos%11 != 0 || padding[pos] && pos%257 != 0) {
				continue
			}
			if seen++; !keep(seen - 1) {
				continue
			}
			flipped++
			// The zeros after the records: a log always extends a record
			// header past its last (wal.go, version 2).
			wal := make([]byte, max(len(c.wal)+16+engine.RecordHeaderSize, pos+1))
			copy(wal, c.wal)
			wal[pos] ^= 0x20
			// The last Save's record too: the proof after it says it was
			// durable (no Save may go; before proofs, its record read as
			// a torn tail).
			c.check(t, fmt.Sprintf("byte %d flipped", pos), wal)
		}
	}
}

// TestLogOfVersion1CutAtEveryRecordBoundary: the same log made a log of
// version 1 (older builds, which promise nothing of the file's tail), cut
// short at every record boundary and one byte either side: as a crash may
// have left it, so it is never refused: the groups wholly before the cut
// are there, the one cut through is gone, nothing is wrong. (A log of
// version 2 cut so is ErrCorrupt: TestLogCutShortIsNeverSilent.)
func TestLogOfVersion1CutAtEveryRecordBoundary(t *testing.T) {
	t.Parallel()
	for _, c := range []*logSweepCase{
		newLogSweepCase(t, "first pass", 0, 4),
		newLogSweepCase(t, "second pass", 6, 3),
	} {
		v1 := bytes.Clone(c.full)
		engine.ForgeLogVersion(v1, 1)
		for k, end := range c.end {
			for _, cut := range []int{end - 1, end, end + 1} {
				// Only the last record may go: the sweep's model. A cut
				// before it leaves the earlier ones torn: check what Open
				// keeps against the groups before the cut instead.
				sub := *c
				keep := c.first + k
				if cut >= end {
					keep++
				}
				sub.ids, sub.mustOpen = c.ids[:keep], true
				sub.check(t, fmt.Sprintf("version 1, cut at %d (record %d ends at %d)", cut, k, end), v1[:cut])
			}
		}
	}
}

// TestLogCutShortIsNeverSilent: the same log cut short by something other
// than a crash (a partial copy, a tool): at the start of its first record
// (the log's header alone), at every record boundary, 1-23 bytes past it
// (inside the next record's header, or in the zeros after the last
// record), and inside each record. Every group in the log was
// acknowledged: Open must keep them all or refuse (ErrCorrupt, nothing
// changed), never drop the ones after the cut without a word.
func TestLogCutShortIsNeverSilent(t *testing.T) {
	t.Parallel()
	for _, c := range []*logSweepCase{
		newLogSweepCase(t, "first pass", 0, 4),
		newLogSweepCase(t, "second pass", 6, 3),
	} {
		cuts := []int{engine.HeaderSize}
		for k, end := range c.end {
			cuts = append(cuts, c.start[k]+engine.HeaderSize, (c.start[k]+end)/2, end-1)
			for _, past := range []int{0, 1, 4, 8, 16, 23} {
				cuts = append(cuts, end+past)
			}
		}
		for _, cut := range cuts {
			if cut > len(c.full) {
				t.Fatalf("%s: cut at %d, past the log's %d bytes", c.name, cut, len(c.full))
			}
			c.check(t, fmt.Sprintf("cut at %d (records end at %v)", cut, c.end), c.full[:cut])
		}
	}
}

// TestRecoverLogKeepsWhatACutLogHolds: the way out of a log cut short is
// `ckpt recover`: it replays every group before the cut, moves the log
// aside, and the store then opens with them.
func TestRecoverLogKeepsWhatACutLogHolds(t *testing.T) {
	t.Parallel()
	c := newLogSweepCase(t, "second pass", 6, 3)
	path := filepath.Join(c.dir, "recover.db")
	cut := c.end[1] // groups 7 and 8 before it, group 9 after it
	if err := os.WriteFile(path, c.db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+walSuffix, c.full[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("Open of the cut log = %v, want ErrCorrupt saying it was cut short", err)
	}
	st, err := RecoverLog(path, Options{})
	if err != nil || !st.Damaged || st.KeptGroups != 2 || st.Offset != int64(cut) || st.MovedTo == "" {
		t.Fatalf("RecoverLog = %+v, %v; want the 2 groups before offset %d kept and the log moved aside", st, err, cut)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", c.ids[:8])
	if _, err := s.Load(context.Background(), "t", c.ids[8]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the group after the cut: %v, want ErrNotFound (it was lost with the cut)", err)
	}
}
