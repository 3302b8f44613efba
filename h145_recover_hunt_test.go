package ckpt

// A hunt of RecoverLog's repair branches (the mark repaired, the binding
// removed, a damaged binding beside the store's own log or another
// store's, a header-only log, a mark past any group, a log with groups
// past the mark, a torn log tail under a damaged mark or binding), killed
// at each of its steps, and the kill's state killed again during the
// recovery (or the read-write Open's replay) that follows. A kill -9
// leaves the files as they are at that step (bbolt's commits are whole or
// not there; nothing of the page cache is lost): each step's state is a
// copy of the store's directory taken there. On every state:
//   - a second handle (Open, RecoverLog) while RecoverLog runs gets
//     ErrLocked, never a second writer;
//   - a read-only Open either refuses (ErrCorrupt) or opens, and when
//     its Verify finds nothing every acknowledged checkpoint loads and
//     nothing of another store is there;
//   - Open (RecoverLog first where Open refuses with ErrCorrupt) converges
//     to exactly what a recovery never killed leaves, and a RecoverLog
//     after that changes nothing.
// CKPT_H145_DEPTH sets how many kills follow one another (default 1; 2:
// a kill, then a kill during the recovery, or the read-write Open's
// replay, of its state).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// h145Case is one damaged store: the acknowledged checkpoints of thread
// "t" that must load after recovery (want) and those that must not
// (gone: dropped with a damaged log record); another store's thread "o"
// must never show.
type h145Case struct {
	name  string
	build func(t *testing.T) (path string, want, gone []string)
}

// h145Clean writes a store closed cleanly (no log beside it).
func h145Clean(t *testing.T, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// h145Tear flips a byte of the k-th group record of the log beside path.
func h145Tear(t *testing.T, path string, k int) {
	t.Helper()
	log, err := os.ReadFile(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	log[logSpans(t, path+walSuffix)[k].Off+30] ^= 0x01
	if err := os.WriteFile(path+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
}

// h145CutTail zeroes the second half of the last group record of the log
// beside path (and any proof after it): a write torn by a crash.
func h145CutTail(t *testing.T, path string) {
	t.Helper()
	log, err := os.ReadFile(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	spans := logSpans(t, path+walSuffix)
	last := spans[len(spans)-1]
	withoutProofAfter(log, last.End)
	clear(log[last.Off+(last.End-last.Off)/2 : last.End])
	if err := os.WriteFile(path+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
}

func h145Cases() []h145Case {
	killed := func(t *testing.T) (string, []string) {
		p, a, l := h145Killed(t, "t", 3, 3)
		return p, append(a, l...)
	}
	foreignLog := func(t *testing.T, path string) {
		other, _, _ := h145Killed(t, "o", 2, 3)
		copyFileIn(t, other+walSuffix, path+walSuffix)
	}
	dropLive := func(t *testing.T, path string) {
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLive) })
	}
	return []h145Case{
		{"mark past any group beside its log", func(t *testing.T) (string, []string, []string) {
			p, ids := killed(t)
			flipAppliedMark(t, p, 0, 0x80)
			return p, ids, nil
		}},
		{"mark and binding beside its log", func(t *testing.T) (string, []string, []string) {
			p, ids := killed(t)
			flipAppliedMark(t, p, 0, 0x80)
			flipBinding(t, p, 3, 0x10)
			return p, ids, nil
		}},
		{"binding beside its log", func(t *testing.T) (string, []string, []string) {
			p, ids := killed(t)
			flipBinding(t, p, 3, 0x10)
			return p, ids, nil
		}},
		{"binding beside another store's log", func(t *testing.T) (string, []string, []string) {
			p, a, _ := h145Killed(t, "t", 3, 3)
			flipBinding(t, p, 3, 0x10)
			foreignLog(t, p)
			return p, a, nil
		}},
		{"binding and no live mark beside another store's log", func(t *testing.T) (string, []string, []string) {
			p, a, _ := h145Killed(t, "t", 3, 3)
			dropLive(t, p)
			flipBinding(t, p, 3, 0x10)
			foreignLog(t, p)
			return p, a, nil
		}},
		{"mark and binding beside a header-only log", func(t *testing.T) (string, []string, []string) {
			p, ids := h145Clean(t, 3)
			s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
			if err != nil {
				t.Fatal(err)
			}
			cp := crashCopy(t, s)
			_ = s.Close()
			flipAppliedMark(t, cp, 0, 0x80)
			flipBinding(t, cp, 3, 0x10)
			return cp, ids, nil
		}},
		{"mark past any group over a torn log", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145Tear(t, p, 2)
			flipAppliedMark(t, p, 0, 0x80)
			return p, append(a, l[:2]...), l[2:]
		}},
		{"mark and binding over a torn log", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145Tear(t, p, 2)
			flipAppliedMark(t, p, 0, 0x80)
			flipBinding(t, p, 3, 0x10)
			return p, append(a, l[:2]...), l[2:]
		}},
		{"binding over a torn log", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145Tear(t, p, 2)
			flipBinding(t, p, 3, 0x10)
			return p, append(a, l[:2]...), l[2:]
		}},
		{"binding over a log cut short", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145CutTail(t, p)
			flipBinding(t, p, 3, 0x10)
			return p, append(a, l[:3]...), l[3:]
		}},
		{"mark past any group over a log cut short", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145CutTail(t, p)
			flipAppliedMark(t, p, 0, 0x80)
			return p, append(a, l[:3]...), l[3:]
		}},
		{"mark and binding over a log cut short", func(t *testing.T) (string, []string, []string) {
			p, a, l := h145Killed(t, "t", 3, 4)
			h145CutTail(t, p)
			flipAppliedMark(t, p, 0, 0x80)
			flipBinding(t, p, 3, 0x10)
			return p, append(a, l[:3]...), l[3:]
		}},
		{"mark raised in range over its log", func(t *testing.T) (string, []string, []string) {
			p, ids := killed(t)
			flipAppliedMark(t, p, 6, 0x01)
			return p, ids, nil
		}},
		{"mark past any group, its log gone", func(t *testing.T) (string, []string, []string) {
			p, a, _ := h145Killed(t, "t", 3, 3)
			if err := os.Remove(p + walSuffix); err != nil {
				t.Fatal(err)
			}
			flipAppliedMark(t, p, 0, 0x80)
			return p, a, nil
		}},
		{"newest meta page of a killed store", func(t *testing.T) (string, []string, []string) {
			cp, ids := h145KilledMetaDamaged(t)
			return cp, ids, nil
		}},
		{"clean store, mark past any group", func(t *testing.T) (string, []string, []string) {
			p, ids := h145Clean(t, 4)
			flipAppliedMark(t, p, 0, 0x80)
			return p, ids, nil
		}},
		{"clean store, mark lowered", func(t *testing.T) (string, []string, []string) {
			p, ids := h145Clean(t, 4)
			flipAppliedMark(t, p, 7, 0x02)
			return p, ids, nil
		}},
		{"clean store, binding", func(t *testing.T) (string, []string, []string) {
			p, ids := h145Clean(t, 4)
			flipBinding(t, p, 9, 0x04)
			return p, ids, nil
		}},
		{"clean store, mark and binding", func(t *testing.T) (string, []string, []string) {
			p, ids := h145Clean(t, 4)
			flipAppliedMark(t, p, 1, 0x01)
			flipBinding(t, p, 9, 0x04)
			return p, ids, nil
		}},
	}
}

// h145Dir is the directory's files and their bytes, as text to compare.
func h145Dir(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

type h145Hunt struct {
	c          h145Case
	want, gone []string
	ref        string // what the store reads after a recovery never killed
	states     int    // kill states checked
	locked     int    // second handles refused with ErrLocked
}

// reads checks what the read-write store s holds against the case.
func (h *h145Hunt) reads(t *testing.T, s *Store, what string) {
	t.Helper()
	for _, id := range h.want {
		if snap, err := s.Load(context.Background(), "t", id); err != nil || snap == nil {
			t.Errorf("%s: acknowledged checkpoint %s does not load: %v", what, id, err)
		}
	}
	for _, id := range h.gone {
		if _, err := s.Load(context.Background(), "t", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: checkpoint %s of a dropped group: %v, want ErrNotFound", what, id, err)
		}
	}
	if hasThread(t, s, "o") {
		t.Errorf("%s: another store's thread is in this one", what)
	}
}

// readOnly checks a read-only Open of path: it refuses with ErrCorrupt,
// or, when its Verify finds nothing, it reads every acknowledged
// checkpoint and nothing else of the case's.
func (h *h145Hunt) readOnly(t *testing.T, path, what string) {
	t.Helper()
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: read-only Open: %v, want it open or ErrCorrupt", what, err)
		}
		return
	}
	defer r.Close()
	rep, err := r.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Errorf("%s: Verify: %v", what, err)
		return
	}
	if rep.OK() {
		h.reads(t, r, what+" (Verify clean, read-only)")
	}
}

// settle brings the store at path to an open store as Open, then
// RecoverLog where Open refuses with ErrCorrupt, do; at depth > 0 the
// recovery and the Open's replay are killed at each of their steps first
// (h.kills). It returns what the store reads.
func (h *h145Hunt) settle(t *testing.T, path, what string, depth int) string {
	t.Helper()
	var s *Store
	for try := 0; ; try++ {
		if depth > 0 {
			h.killOpen(t, path, what, depth)
		}
		var err error
		s, err = Open(path, Options{})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrCorrupt) || try == 3 {
			t.Fatalf("%s: Open (try %d): %v", what, try, err)
		}
		if depth > 0 {
			h.kills(t, path, what, depth)
		}
		if _, err := RecoverLog(path, Options{}); err != nil {
			t.Fatalf("%s: Open: ErrCorrupt; RecoverLog: %v", what, err)
		}
	}
	h.reads(t, s, what)
	if err := s.Close(); err != nil {
		t.Fatalf("%s: Close: %v", what, err)
	}
	if rep, err := verifyPath(path); err != nil || !rep.OK() {
		t.Errorf("%s: Verify after recovery: %v (%+v)", what, err, rep)
	}
	// Recovery again changes nothing.
	before := h145Dir(t, path)
	if st, err := RecoverLog(path, Options{}); err != nil || st != (RecoverStats{}) {
		t.Errorf("%s: RecoverLog on the recovered store = %+v, %v; want nothing done", what, st, err)
	}
	if after := h145Dir(t, path); !mapsEqual(before, after) {
		t.Errorf("%s: RecoverLog on the recovered store changed its directory", what)
	}
	return storeReads(t, path)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func verifyPath(path string) (*VerifyReport, error) {
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Verify(context.Background(), VerifyOptions{})
}

// kills runs RecoverLog on copies of path killed at each of its steps
// (the state a kill there leaves), and checks each state. Under -race
// every 3rd step (raceSample: one copy recovered and checked at a time,
// the detector meets only the store's own goroutines, which the sample
// meets too); CI's plain command kills at every step.
func (h *h145Hunt) kills(t *testing.T, path, what string, depth int) {
	t.Helper()
	var steps []string
	probe := h145Copy(t, path)
	if _, err := RecoverLog(probe, WithRecoverStep(Options{}, func(s string) { steps = append(steps, s) })); err != nil {
		t.Fatalf("%s: RecoverLog: %v", what, err)
	}
	keep := raceSample(t, 3)
	for i, at := range steps {
		if !keep(i) {
			continue
		}
		p := h145Copy(t, path)
		var state string
		_, _ = RecoverLog(p, WithRecoverStep(Options{}, func(s string) {
			if s != at || state != "" {
				return
			}
			state = h145Copy(t, p)
			// A second handle while recovery holds the file.
			if _, err := Open(p, Options{LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
				t.Errorf("%s, killed at %s: a second Open during RecoverLog: %v, want ErrLocked", what, at, err)
			}
			if _, err := RecoverLog(p, Options{LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
				t.Errorf("%s, killed at %s: a second RecoverLog during RecoverLog: %v, want ErrLocked", what, at, err)
			}
			if _, err := Open(p, Options{ReadOnly: true, LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
				t.Errorf("%s, killed at %s: a read-only Open during RecoverLog: %v, want ErrLocked", what, at, err)
			}
			h.locked += 3
		}))
		if state == "" {
			t.Fatalf("%s: step %s did not come again", what, at)
		}
		h.check(t, state, what+", killed in RecoverLog at "+at, depth-1)
	}
}

// killOpen kills a read-write Open of a copy of path where it has
// created its new log (after its replay's commit, before it binds the
// log), if it gets there, and checks that state.
func (h *h145Hunt) killOpen(t *testing.T, path, what string, depth int) {
	t.Helper()
	p := h145Copy(t, path)
	var state string
	s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{CreatedLog: func() {
		state = h145Copy(t, p)
		// A second handle while the Open that replayed holds the file.
		if _, err := Open(p, Options{LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
			t.Errorf("%s: a second Open during a read-write Open: %v, want ErrLocked", what, err)
		}
		if _, err := RecoverLog(p, Options{LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
			t.Errorf("%s: RecoverLog during a read-write Open: %v, want ErrLocked", what, err)
		}
		h.locked += 2
	}}}})
	if err == nil {
		_ = s.Close()
	}
	if state != "" {
		h.check(t, state, what+", killed in Open's replay", depth-1)
	}
}

// faultOpen runs a read-write Open of copies of path whose n-th fsync of
// the log fails (the old log's before its replay, the new log's at its
// creation, ...), and checks the state each leaves: the Open fails with
// that error or opens, and what it left converges as a kill's state does.
func (h *h145Hunt) faultOpen(t *testing.T, path, what string, depth int) {
	t.Helper()
	eio := errors.New("h145: fsync fails")
	for n := 1; n <= 3; n++ {
		p := h145Copy(t, path)
		calls := 0
		s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: func(f *os.File) error {
			if calls++; calls == n {
				return eio
			}
			return engine.Fdatasync(f)
		}}}})
		if err == nil {
			_ = s.Close()
		} else if calls >= n && !errors.Is(err, eio) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: read-write Open whose fsync %d failed: %v, want that error", what, n, err)
		}
		h.check(t, h145Copy(t, p), fmt.Sprintf("%s, fsync %d of a read-write Open failed", what, n), depth-1)
	}
}

// check checks the state a kill left at path.
func (h *h145Hunt) check(t *testing.T, path, what string, depth int) {
	t.Helper()
	h.states++
	h.readOnly(t, path, what)
	if got := h.settle(t, path, what, depth); got != h.ref {
		t.Errorf("%s, then recovered: the store reads differently from a recovery never killed:\n%s\nwant\n%s", what, got, h.ref)
	}
}

func TestH145RecoverKilledAtEveryStep(t *testing.T) {
	t.Parallel()
	depth := 1
	if v := os.Getenv("CKPT_H145_DEPTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		depth = n
	}
	var total, locked int
	for _, c := range h145Cases() {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			base, want, gone := c.build(t)
			h := &h145Hunt{c: c, want: want, gone: gone}
			ref := h145Copy(t, base)
			h.readOnly(t, ref, c.name+", before recovery")
			if _, err := RecoverLog(ref, Options{}); err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			h.ref = h.settle(t, ref, c.name+", never killed", 0)
			h.kills(t, base, c.name, depth)
			h.killOpen(t, base, c.name, depth)
			h.faultOpen(t, base, c.name, depth)
			total += h.states
			locked += h.locked
		})
	}
	t.Logf("%d cases, %d kill states checked (depth %d), %d second handles refused", len(h145Cases()), total, depth, locked)
}

// h145KilledMetaDamaged is a store killed with 3 checkpoints in its log
// only (2 more in the file), whose newest meta page (the read-write Open's
// commit that bound that log) fails bbolt's checksum; it returns the
// copy's path and the 5 checkpoints' ids.
func h145KilledMetaDamaged(t *testing.T) (string, []string) {
	t.Helper()
	p, ids := h145Clean(t, 2)
	s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, LogGrow: loggedGrow}}})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, saveN(t, s, "t", 2, 3)...)
	cp := crashCopy(t, s)
	_ = s.Close()
	data, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	ps, newest := metaPages(t, data)
	data[newest*ps+metaBodyAt+40] ^= 0x04
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp, ids
}
