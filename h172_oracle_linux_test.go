//go:build linux

package ckpt_test

// The oracle of h172_strace_linux_test.go: the model a child's report
// gives, and the checks of the store (and of its backups and imports)
// against it.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h172IDs finds the checkpoint ids an error names.
var h172IDs = regexp.MustCompile(`checkpoint ([0-9A-Z]{26})\b`)

const (
	h172None int8 = iota
	h172Never
	h172May
	h172Must
)

type h172Step struct {
	st, pw     int8
	id         string
	begin, ack int64 // ack: when it became a must (its return, or the Flush's)
	pwAck      int64
}

type h172Model struct {
	steps  map[string]map[int]*h172Step // thread -> step
	maint  map[string]map[int]h172Line  // op -> k -> its begin, its end
	begins map[string]map[int]int64
	errs   map[string]int // distinct errors (trimmed), for the log
}

func h172Build(ls []h172Line) *h172Model {
	m := &h172Model{steps: map[string]map[int]*h172Step{}, maint: map[string]map[int]h172Line{},
		begins: map[string]map[int]int64{}, errs: map[string]int{}}
	step := func(th string, i int) *h172Step {
		if m.steps[th] == nil {
			m.steps[th] = map[int]*h172Step{}
		}
		s := m.steps[th][i]
		if s == nil {
			s = &h172Step{}
			m.steps[th][i] = s
		}
		return s
	}
	for _, l := range ls {
		switch l.kind {
		case "B":
			if base, what, ok := strings.Cut(l.thread, "/"); ok {
				if what == "pw" {
					step(base, l.i).pw = h172May
				}
				continue
			}
			s := step(l.thread, l.i)
			s.st, s.begin = h172May, l.seq
		case "A":
			s := step(l.thread, l.i)
			s.id = l.rest
			if l.thread != "a0" {
				s.st, s.ack = h172Must, l.seq
			}
		case "E":
			step(l.thread, l.i).st = h172Never
		case "F":
			for _, s := range m.steps[l.thread] {
				// Only writes of the same process: a replay round's
				// report follows the killed run's, its seq 1<<20 on.
				if s.st == h172May && s.id != "" && s.begin>>20 == l.seq>>20 {
					s.st, s.ack = h172Must, l.seq
				}
			}
		case "WA":
			s := step(l.thread, l.i)
			s.pw, s.pwAck = h172Must, l.seq
		case "WE":
			step(l.thread, l.i).pw = h172Never
		case "FE", "C":
			// A Flush's or Close's error names each Async write that
			// failed: it must not show.
			for _, id := range h172IDs.FindAllStringSubmatch(l.rest, -1) {
				for _, s := range m.steps["a0"] {
					if s.id == id[1] && s.st != h172Must {
						s.st = h172Never
					}
				}
			}
		case "M":
			if l.rest == "begin" {
				if m.begins[l.thread] == nil {
					m.begins[l.thread] = map[int]int64{}
				}
				m.begins[l.thread][l.i] = l.seq
				continue
			}
			if m.maint[l.thread] == nil {
				m.maint[l.thread] = map[int]h172Line{}
			}
			m.maint[l.thread][l.i] = l
		}
		if e, ok := strings.CutPrefix(l.rest, "err "); ok || l.kind == "E" || l.kind == "WE" || l.kind == "FE" {
			if !ok {
				e = l.rest
			}
			if len(e) > 120 {
				e = e[:120]
			}
			m.errs[l.kind+" "+e]++
		}
	}
	return m
}

// h172FailStop: a write begun after another write returned an error other
// than a full disk's must not be acknowledged: the store stopped.
func h172FailStop(ls []h172Line) []string {
	var first int64
	var why string
	for _, l := range ls {
		if (l.kind == "E" || l.kind == "WE" || l.kind == "FE") && !strings.Contains(l.rest, ckpt.ErrDiskFull.Error()) {
			first, why = l.seq, l.rest
			break
		}
	}
	if first == 0 {
		return nil
	}
	begin := map[string]int64{}
	var probs []string
	for _, l := range ls {
		key := fmt.Sprintf("%s %d", l.thread, l.i)
		switch l.kind {
		case "B":
			begin[key] = l.seq
		case "A", "WA", "F":
			th := l.thread
			if l.kind == "WA" {
				key = fmt.Sprintf("%s/pw %d", th, l.i)
			}
			if l.kind == "F" {
				key = fmt.Sprintf("%s/flush %d", th, l.i)
			}
			if b := begin[key]; b > first {
				probs = append(probs, fmt.Sprintf("%s %s %d (begun at %d) acknowledged after a write failed at %d with %q",
					l.kind, th, l.i, b, first, why))
			}
		}
	}
	return probs
}

// h172CheckStore checks s against m: every step that became a must
// before `before` (0: any time) reads back exactly, with its pending
// write; nothing that failed shows; each History is one chain, its
// newest Latest.
func h172CheckStore(ctx context.Context, s *ckpt.Store, m *h172Model, before int64) []string {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	in := func(seq int64) bool { return before == 0 || seq < before }
	threads := make([]string, 0, len(m.steps))
	for th := range m.steps {
		threads = append(threads, th)
	}
	sort.Strings(threads)
	for _, th := range threads {
		steps := m.steps[th]
		var snaps []*ckpt.Snapshot
		for sn, err := range s.History(ctx, th, ckpt.ListOptions{}) {
			if err != nil {
				if !errors.Is(err, ckpt.ErrNotFound) {
					bad("History(%s): %v", th, err)
				}
				break
			}
			snaps = append(snaps, sn)
		}
		seen := map[int]bool{}
		for k, sn := range snaps {
			var i int
			var v string
			if err := sn.Decode("i", &i); err != nil {
				bad("%s %s: %v", th, sn.CheckpointID, err)
				continue
			}
			if err := sn.Decode("v", &v); err != nil || v != h172State(th, i)["v"] {
				bad("%s step %d (%s): value %.20q, %v", th, i, sn.CheckpointID, v, err)
			}
			if mi, ok := sn.Metadata["i"].(int64); !ok || int(mi) != i {
				bad("%s step %d: metadata %v", th, i, sn.Metadata)
			}
			st := steps[i]
			switch {
			case st == nil || st.st == h172None:
				bad("%s step %d shows, never begun", th, i)
				continue
			case st.st == h172Never:
				bad("%s step %d shows (%s); its Save returned an error", th, i, sn.CheckpointID)
			case st.id != "" && st.id != sn.CheckpointID:
				bad("%s step %d is %s, acknowledged as %s", th, i, sn.CheckpointID, st.id)
			}
			if seen[i] {
				bad("%s step %d twice", th, i)
			}
			seen[i] = true
			if k+1 < len(snaps) && sn.ParentID != snaps[k+1].CheckpointID {
				bad("%s: %s's parent %s, the next in History %s", th, sn.CheckpointID, sn.ParentID, snaps[k+1].CheckpointID)
			}
			tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: th, CheckpointID: sn.CheckpointID})
			if err != nil {
				bad("GetTuple %s %s: %v", th, sn.CheckpointID, err)
				continue
			}
			has := false
			for _, pw := range tp.PendingWrites {
				var pv string
				if err := pw.Value.Decode(&pv); err != nil || pw.Channel != "w" || pv != h172PW(th, i) {
					bad("%s step %d: pending write %s=%.30q (%v)", th, i, pw.Channel, pv, err)
				}
				has = true
			}
			switch {
			case has && (st.pw == h172None || st.pw == h172Never):
				bad("%s step %d: a pending write shows that returned an error or was never made", th, i)
			case !has && st.pw == h172Must && st.st == h172Must && in(st.pwAck) && in(st.ack):
				bad("%s step %d: its acknowledged pending write is lost", th, i)
			}
		}
		for i, st := range steps {
			if st.st == h172Must && in(st.ack) && !seen[i] {
				bad("%s step %d (%s) acknowledged, lost", th, i, st.id)
			}
		}
		if len(snaps) > 0 {
			if lt, err := s.Latest(ctx, th); err != nil || lt.CheckpointID != snaps[0].CheckpointID {
				bad("Latest(%s) %v, History's newest %s", th, err, snaps[0].CheckpointID)
			}
		}
	}
	return probs
}

// h172Check reopens the store at path (RecoverLog where Open refuses it),
// checks it and what the maintenance calls left against the report, and
// returns a line for the log. f is nil for the run without a fault.
func h172Check(t *testing.T, label, path string, opts ckpt.Options, ls []h172Line, killed bool, f *h172Fault) string {
	t.Helper()
	ctx := context.Background()
	m := h172Build(ls)
	fail := func(f string, a ...any) { t.Errorf("%s: "+f, append([]any{label}, a...)...) }
	for _, p := range h172FailStop(ls) {
		fail("%s", p)
	}
	if f == nil && len(m.errs) > 0 {
		fail("errors without a fault: %v", m.errs)
	}
	refused := ""
	s, err := ckpt.Open(path, opts)
	if errors.Is(err, ckpt.ErrCorrupt) {
		refused = fmt.Sprintf(" (Open refused: %v)", err)
		fail("Open refuses the file a fault left: %v", err)
		if _, rerr := ckpt.RecoverLog(path, opts); rerr != nil {
			fail("RecoverLog: %v", rerr)
			return "refused"
		}
		s, err = ckpt.Open(path, opts)
	}
	if err != nil {
		fail("Open after the fault: %v", err)
		return "open failed"
	}
	for _, p := range h172CheckStore(ctx, s, m, 0) {
		fail("%s", p)
	}
	// GC: an old thread whose Put and GC returned nil is gone; one whose
	// Put failed never shows.
	for k := range 2 {
		old := fmt.Sprintf("old%d", k)
		_, err := s.Latest(ctx, old)
		put, gc := m.maint["old"][k], m.maint["gc"][k]
		switch {
		case put.rest == "ok" && gc.rest == "ok" && err == nil:
			fail("%s shows after a GC that returned nil", old)
		case put.rest != "ok" && put.kind != "" && err == nil:
			fail("%s shows; its Put returned %s", old, put.rest)
		case err != nil && !errors.Is(err, ckpt.ErrNotFound):
			fail("Latest(%s): %v", old, err)
		}
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		fail("Verify: %v %+v", err, rep)
	}
	if _, err := s.Save(ctx, "after", map[string]any{"x": 1}, nil); err != nil {
		fail("Save after reopen: %v", err)
	}
	if err := s.Close(); err != nil {
		fail("Close after reopen: %v", err)
	}
	// A backup or an import that returned nil holds what was acknowledged
	// before it began.
	checked := 0
	for _, op := range []string{"backup", "import", "importfile"} {
		for k, l := range m.maint[op] {
			if l.rest != "ok" {
				continue
			}
			name := map[string]string{"backup": "bk%d.db", "import": "imp%d.db", "importfile": "impf%d.db"}[op]
			name = fmt.Sprintf(name, k)
			ro := opts
			ro.ReadOnly = true
			b, err := ckpt.Open(filepath.Join(filepath.Dir(path), name), ro)
			if err != nil {
				fail("%s %d returned nil; its store does not open: %v", op, k, err)
				continue
			}
			for _, p := range h172CheckStore(ctx, b, m, m.begins[op][k]) {
				fail("%s %d: %s", op, k, p)
			}
			_ = b.Close()
			checked++
		}
	}
	must, never := 0, 0
	for _, steps := range m.steps {
		for _, st := range steps {
			switch st.st {
			case h172Must:
				must++
			case h172Never:
				never++
			}
		}
	}
	errs := make([]string, 0, len(m.errs))
	for e, n := range m.errs {
		errs = append(errs, fmt.Sprintf("%dx %s", n, e))
	}
	sort.Strings(errs)
	return fmt.Sprintf("killed=%v acked=%d failed=%d copies=%d%s errs=%v", killed, must, never, checked, refused, errs)
}
