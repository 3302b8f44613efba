package ckpt

// H237: a read-only Open over a cycle file with a live log skips, alone,
// a logged change that opens the damaged bucket (replaySparing). Changes
// that are not plain puts into it: a logged DeleteThread, a GC prune, a
// CopyThread from it, a delete and a new Save into the same thread. A read
// must give what the log says, or ErrCorrupt for the damaged thread:
// never a deleted thread listed as sound, never a pruned or deleted
// checkpoint's old value, never an old value for a new one.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// h237Model is what the store holds after the log: per thread, its live
// checkpoints (id -> x), and the ids the log removed.
type h237Model struct {
	live    map[string]map[string]string
	newest  map[string]string // thread -> x of its newest checkpoint
	removed map[string]string // id -> thread
	order   map[string][]string
	dropped map[string]bool // threads the log deleted: read as the log says, never ErrCorrupt
}

// h237Build writes h231Build's 150 threads, closes, then runs logged
// (the applier held) and returns the crash copy and the model.
func h237Build(t *testing.T, logged func(ctx context.Context, s *Store, save func(th, x string), m *h237Model)) (string, *h237Model) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &h237Model{live: map[string]map[string]string{}, newest: map[string]string{}, removed: map[string]string{}}
	order := map[string][]string{}
	mk := func(s *Store) func(th, x string) {
		return func(th, x string) {
			id, err := s.Save(ctx, th, map[string]any{"x": x}, Metadata{"x": strings.ToUpper(x)})
			if err != nil {
				t.Fatal(err)
			}
			if m.live[th] == nil {
				m.live[th] = map[string]string{}
			}
			m.live[th][id] = x
			m.newest[th] = x
			order[th] = append(order[th], id)
		}
	}
	save := mk(s)
	h231ManyThreads(func(th string, _ int, x string) { save(th, x) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u := openUnappliedWith(t, path, Options{})
	m.order = order
	logged(ctx, u, mk(u), m)
	return crashCopy(t, u), m
}

// drop removes th from the model (a DeleteThread).
func (m *h237Model) drop(th string) {
	for id := range m.live[th] {
		m.removed[id] = th
	}
	delete(m.live, th)
	delete(m.newest, th)
	if m.dropped == nil {
		m.dropped = map[string]bool{}
	}
	m.dropped[th] = true
}

// h237Check reads ro against m: damaged may read ErrCorrupt, nothing
// reads wrong.
func h237Check(ctx context.Context, t *testing.T, name string, ro *Store, m *h237Model, damaged string) {
	t.Helper()
	bad := map[string]int{}
	fail := func(format string, args ...any) {
		if bad[format]++; bad[format] <= 2 {
			t.Errorf(name+": "+format, args...)
		}
	}
	// A logged DeleteThread drops the thread's bucket: that needs none of
	// its pages, and the damaged thread reads as the log leaves it.
	okErr := func(th string, err error) bool { return th == damaged && !m.dropped[th] && errors.Is(err, ErrCorrupt) }
	seen := map[string]bool{}
	for info, err := range ro.Threads(ctx) {
		seen[info.ThreadID] = true
		if _, live := m.live[info.ThreadID]; !live && (err == nil || m.dropped[info.ThreadID]) {
			fail("Threads yields %q, deleted by the log, as sound (%d checkpoints)", info.ThreadID, info.Checkpoints)
		}
		if err != nil && !okErr(info.ThreadID, err) {
			fail("Threads: %q: %v", info.ThreadID, err)
		}
	}
	for th := range m.live {
		if !seen[th] {
			fail("Threads does not yield %q", th)
		}
	}
	for id, th := range m.removed {
		if _, live := m.live[th]; live && m.live[th][id] != "" {
			continue
		}
		err := h229Bounded(t, name+" Load removed", func() error {
			snap, err := ro.Load(ctx, th, id)
			if err == nil {
				var x string
				_ = snap.Decode("x", &x)
				return fmt.Errorf("reads x=%q", x)
			}
			return err
		})
		if !errors.Is(err, ErrNotFound) && !okErr(th, err) {
			fail("Load of %s's %s, removed by the log: %v", th, id, err)
		}
	}
	for th, cps := range m.live {
		for id, want := range cps {
			err := h229Bounded(t, name+" Load", func() error { return h231LoadExact(ctx, ro, th, id, want, true) })
			if err != nil && !okErr(th, err) {
				fail("Load %s's %s (%s): %v", th, id, want, err)
			}
		}
		err := h229Bounded(t, name+" Latest", func() error {
			snap, err := ro.Latest(ctx, th)
			if err != nil {
				return err
			}
			var x string
			if err := snap.Decode("x", &x); err != nil {
				return err
			}
			if x != m.newest[th] {
				return fmt.Errorf("x=%q, want %q", x, m.newest[th])
			}
			return nil
		})
		if err != nil && !okErr(th, err) {
			fail("Latest %s: %v", th, err)
		}
	}
	// RecentThreads: every live thread once, none deleted as sound; the
	// damaged one may be ErrCorrupt (its own entry), nothing else fails.
	page, err := ro.RecentThreads(ctx, ThreadQuery{})
	if err != nil {
		fail("RecentThreads: %v", err)
	} else {
		if page.Total != len(m.live) {
			fail("RecentThreads counts %d threads, the log leaves %d", page.Total, len(m.live))
		}
		got := map[string]bool{}
		for i, info := range page.Threads {
			var e error
			if page.Errs != nil {
				e = page.Errs[i]
			}
			got[info.ThreadID] = true
			if _, live := m.live[info.ThreadID]; !live {
				fail("RecentThreads lists %q, deleted by the log (%v)", info.ThreadID, e)
			}
			if e != nil && !okErr(info.ThreadID, e) {
				fail("RecentThreads: %q: %v", info.ThreadID, e)
			}
		}
		for th := range m.live {
			if !got[th] {
				fail("RecentThreads does not list %q", th)
			}
		}
	}
	// Every checkpoint across threads, by the index: none removed, none
	// wrong.
	n := 0
	for tu, err := range ro.List(ctx, ListOptions{}) {
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || damaged == "" {
				fail("List: %v", err)
			}
			break
		}
		n++
		th, id := tu.Config.ThreadID, tu.Config.CheckpointID
		if rth, gone := m.removed[id]; gone && rth == th && m.live[th][id] == "" {
			fail("List yields %s's %s, removed by the log", th, id)
		}
	}
	_ = n
}

func h237Run(t *testing.T, logged func(ctx context.Context, s *Store, save func(th, x string), m *h237Model)) {
	ctx := context.Background()
	file, m := h237Build(t, logged)
	kept := 0
	cycles := h231DamageCycles(t, file, func(path, name, th string) {
		before, _ := os.ReadFile(path)
		beforeLog, _ := os.ReadFile(path + walSuffix)
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Errorf("%s: read-only Open: %v, want the file kept", name, err)
			return
		}
		kept++
		h237Check(ctx, t, name, ro, m, th)
		_ = ro.Close()
		if s, err := Open(path, Options{}); err == nil {
			_ = s.Close()
			t.Errorf("%s: read-write Open kept the cycle file", name)
		}
		if _, err := RecoverLog(path, Options{}); err == nil {
			t.Errorf("%s: RecoverLog kept the cycle file", name)
		}
		after, _ := os.ReadFile(path)
		afterLog, _ := os.ReadFile(path + walSuffix)
		if !slices.Equal(before, after) || !slices.Equal(beforeLog, afterLog) {
			t.Errorf("%s: the refused opens changed the file or its log", name)
		}
	})
	if cycles == 0 {
		t.Fatal("no damaged id made a page cycle")
	}
	t.Logf("%d cycle files, %d kept", cycles, kept)
}

// TestH237LoggedDeleteOfTheDamagedThread: the log deletes th000 and th001
// (the threads h231Spots damages).
func TestH237LoggedDeleteOfTheDamagedThread(t *testing.T) {
	t.Parallel()
	h237Run(t, h237DeleteDamaged(t, 0))
}

// TestH237LoggedDeleteThenSave: the log deletes th000 and th001, then
// saves into them again: the new checkpoints, never the old ones.
func TestH237LoggedDeleteThenSave(t *testing.T) {
	t.Parallel()
	h237Run(t, h237DeleteDamaged(t, 3))
}

// h237DeleteDamaged is a log that deletes th000 and th001, the threads
// h231Spots damages, each followed by again new saves into it.
func h237DeleteDamaged(t *testing.T, again int) func(ctx context.Context, s *Store, save func(th, x string), m *h237Model) {
	return func(ctx context.Context, s *Store, save func(th, x string), m *h237Model) {
		for _, th := range []string{"th000", "th001"} {
			if err := s.DeleteThread(ctx, th); err != nil {
				t.Fatal(err)
			}
			m.drop(th)
			for i := range again {
				save(th, fmt.Sprint(th, "/again/", i))
			}
		}
	}
}

// TestH237LoggedPruneAndCopy: the log prunes every thread to its 2 newest
// (GC), copies th000 to a new thread and th050 over th001.
func TestH237LoggedPruneAndCopy(t *testing.T) {
	t.Parallel()
	h237Run(t, func(ctx context.Context, s *Store, save func(th, x string), m *h237Model) {
		gctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := s.GC(gctx, Policy{KeepLast: 2}); err != nil {
			t.Fatal(err)
		}
		for th, ids := range m.order {
			for _, id := range ids[:max(0, len(ids)-2)] {
				delete(m.live[th], id)
				m.removed[id] = th
			}
		}
		if err := s.CopyThread(ctx, "th000", "copy", CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.CopyThread(ctx, "th050", "th001", CopyOptions{Replace: true}); err != nil {
			t.Fatal(err)
		}
		m.drop("th001")
		for _, pair := range [][2]string{{"th000", "copy"}, {"th050", "th001"}} {
			m.live[pair[1]] = map[string]string{}
			for id, x := range m.live[pair[0]] {
				m.live[pair[1]][id] = x
			}
			m.newest[pair[1]] = m.newest[pair[0]]
		}
	})
}
