package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// heldAndLoggedStore leaves, as a killed store would under a steady load,
// a log that holds groups bbolt applied (the log is rewound only once
// bbolt holds all of it) and acknowledged groups after them that only the
// log holds: thread t saved 3 times, applied while one save of u commits
// beside the apply (so the apply does not catch up and the log is not
// rewound), then u saved twice more. It returns the crash copy's path,
// the ids saved and the log's group records.
func heldAndLoggedStore(t *testing.T) (path string, ts, us []string, spans []engine.RecordSpan) {
	t.Helper()
	// The applier's commits that take group 3 or later wait, the first
	// two of them, until the test lets them go (its own goroutine, so the
	// commit loop acknowledges saves meanwhile).
	// A commit of group 1 or 2 alone waits until t's three saves are
	// logged: under load the applier could take them first, and the log,
	// held by bbolt whole, was rewound before group 3 (CI, -race, a loaded
	// machine: the log began at group 3).
	var taken atomic.Int32
	entered := make(chan int32, 2)
	logged := make(chan struct{})
	release := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow, CommitBolt: func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta).Get(keyWALApplied)
		if len(m) == 8 && binary.BigEndian.Uint64(m) >= 1 && binary.BigEndian.Uint64(m) < 3 {
			<-logged
		}
		if len(m) == 8 && binary.BigEndian.Uint64(m) >= 3 {
			if n := taken.Add(1); n <= 2 {
				entered <- n
				<-release[n-1]
			}
		}
		return tx.Commit()
	}}}
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, r := range append(release[:], logged) {
			select {
			case <-r:
			default:
				close(r)
			}
		}
		_ = s.Close()
	})
	ts = saveN(t, s, "t", 0, 3) // groups 1-3: the applier takes them, its commit waits
	close(logged)
	<-entered
	us = saveN(t, s, "u", 0, 1) // group 4, logged after them: the apply will not catch up
	close(release[0])
	<-entered // the commit of the next batch waits: bbolt holds groups up to 3
	us = append(us, saveN(t, s, "u", 1, 2)...)
	path = crashCopy(t, s)
	spans = logSpans(t, path+walSuffix)
	mark := readMark(t, path)
	if len(spans) < 4 || mark != 3 || spans[0].Gen > 2 || spans[len(spans)-1].Gen != 6 {
		t.Fatalf("log records %v, mark %d: want groups up to 6 from 1 or 2, bbolt holding groups up to 3", spans, mark)
	}
	return path, ts, us, spans
}

// TestDamageAmongAppliedRecordsLosesNoLaterGroup: a killed store's log
// holds groups bbolt applied and, after them, acknowledged groups only
// the log holds. A flipped byte in a record of a group bbolt holds (the
// first, one in the middle, the mark's own, or a record's header), or in
// a proof (a record that says the one before it was durable) after the
// mark, breaks the chain of crcs through it: Open refuses the log
// (ErrCorrupt), and RecoverLog kept only "the records before the
// damage", dropping the later, acknowledged, groups the file never took. Nothing of those is
// lost with the damaged record (bbolt holds it), and records past the
// mark are all of the log's current pass (an earlier pass ends at or
// below the mark at its rewind; between a group's record and the next
// one's only proofs lie): RecoverLog must keep every one, and the store
// must then read every acknowledged checkpoint, with Verify clean.
func TestDamageAmongAppliedRecordsLosesNoLaterGroup(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	mark := readMark(t, cp)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	// The log's records from its first to the mark's (3): the pass began
	// at group 1, or at 2 if an apply caught up with group 1 alone.
	first, last := spans[0], spans[mark-spans[0].Gen]
	for _, c := range []struct {
		name string
		at   int64 // the damaged byte
	}{
		{"first record's body", first.End - 8},
		{"first record's header", first.Off + 9},
		{"second record's body", spans[1].End - 8},
		{"the mark's record's header", last.Off + 17},
		{"the mark's record's body", last.End - 8},
		{"a proof after the mark", proofOf(t, data, mark+1).End - 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := flippedLogCopy(t, cp, data, c.at, 0x10)
			opensRightOrRefuses(t, p, ts, us)
			recoversEveryGroup(t, p, ts, us, int(spans[len(spans)-1].Gen-mark))
		})
	}
}

// flippedLogCopy returns a copy of the store at cp whose log is data with
// mask flipped into its byte at (none if at < 0).
func flippedLogCopy(t *testing.T, cp string, data []byte, at int64, mask byte) string {
	t.Helper()
	p := copyStore(t, cp)
	bad := append([]byte(nil), data...)
	if at >= 0 {
		bad[at] ^= mask
	}
	if err := os.WriteFile(p+walSuffix, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensRightOrRefuses checks that every Open of a copy of the store at p
// (read-only and read-write) refuses it with ErrCorrupt or serves every
// checkpoint of t (ts) and u (us).
func opensRightOrRefuses(t *testing.T, p string, ts, us []string) {
	t.Helper()
	for _, ro := range []bool{true, false} {
		r, err := Open(copyStore(t, p), Options{ReadOnly: ro})
		if err == nil {
			checkLoads(t, r, "t", ts)
			checkLoads(t, r, "u", us)
			_ = r.Close()
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: Open: %v, want ErrCorrupt or every checkpoint", ro, err)
		}
	}
}

// recoversEveryGroup runs RecoverLog on the store at p and checks that it
// kept the want groups past the mark and dropped none, that the store
// then holds every checkpoint of t (ts) and u (us), the last of us u's
// latest, and that Verify finds nothing wrong with the mark.
func recoversEveryGroup(t *testing.T, p string, ts, us []string, want int) {
	t.Helper()
	st, err := RecoverLog(p, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if st.DroppedGroups() != 0 || st.KeptGroups != want {
		t.Errorf("RecoverLog = %+v: want the %d groups past the mark kept, none dropped", st, want)
	}
	w, err := Open(p, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog (%+v): %v", st, err)
	}
	checkLoads(t, w, "t", ts)
	checkLoads(t, w, "u", us)
	if got, err := w.Latest(context.Background(), "u"); err != nil || got.CheckpointID != us[len(us)-1] {
		t.Errorf("after RecoverLog u's latest is %v (%v), want %s", got, err, us[len(us)-1])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := markProblems(t, p); len(ps) != 0 {
		t.Errorf("Verify after RecoverLog: %v", ps)
	}
}

// proofOf returns the first proof after group gen's record in the log
// whose bytes are data: a version 5 proof is padded to the next block,
// so most of a log's bytes are proofs, where a random flip lands most.
func proofOf(t *testing.T, data []byte, gen uint64) engine.RecordSpan {
	t.Helper()
	for _, r := range engine.RecordSpans(data) {
		if r.Proof && r.Gen == gen {
			return r
		}
	}
	t.Fatalf("no proof of group %d in the log", gen)
	return engine.RecordSpan{}
}
