package ckpt

// H254: every read of a READ-ONLY handle whose file was damaged under it
// (h253's damage kinds, written while the handle is open: bbolt's map is
// the file's pages). A read-only Open walks the file before it keeps it,
// so the hunts before damaged closed files; pages that turn bad while the
// handle is open are met by reads that trust what the walk saw. Two
// handles: over a closed store (ro), and over a killed writer's unapplied
// log (ro-log: the log's writes into the damaged thread and another are
// read from the log over the file). A read-only handle beside a live
// writer process is not one: the writer's lock refuses it (ErrLocked,
// TestH246SecondProcessDuringMaintenance's probes). Each case runs in
// a child process: the child opens the copy, reads every checkpoint
// (the model: the file was sound then), damages a page, runs the call
// and Close, and prints what each returned and any answer that is not
// the model's.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	h254CaseEnv = "CKPT_H254_CASE" // handle/damage/call
	h254PathEnv = "CKPT_H254_PATH" // the store's file (a copy of the handle's built one)
)

var (
	h254Handles = []string{"ro", "ro-log"}
	h254Calls   = []string{"GetTupleLatest", "GetTupleByID", "List", "ListAll", "ListIDs", "History", "Thread",
		"Threads", "RecentThreads", "Stats", "Verify", "Export", "ExportSkip", "BackupFile", "Backup", "none"}
)

// h254BuildRO builds the handle's file at path: h253Build's store, and
// for ro-log a log of writes (checkpoints into t1 and t0, pending writes
// on t1's newest) that a killed writer left unapplied.
func h254BuildRO(t *testing.T, path, handle string) {
	t.Helper()
	ctx := context.Background()
	h253Build(t, path, "wal")
	if handle != "ro-log" {
		return
	}
	u := openUnappliedWith(t, path, Options{})
	for i := range 3 {
		for _, th := range []string{"t1", "t0"} {
			if _, err := u.Save(ctx, th, map[string]any{"logged": i, "th": th}, Metadata{"ns": ""}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tu, err := u.GetTuple(ctx, Config{ThreadID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.PutWrites(ctx, tu.Config, []Write{{Channel: "c", Value: "pending"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	crash := crashCopy(t, u)
	for _, suf := range []string{"", walSuffix} {
		copyFileIn(t, crash+suf, path+suf)
	}
}

// h254Model is what the handle read before the damage: per checkpoint
// id, its thread, namespace, h254Print and metadata "ns"; per thread,
// its newest checkpoint of the root namespace.
type h254Model struct {
	cps    map[string][4]string // id -> thread, ns, print, metadata ns
	latest map[string]string    // thread -> GetTuple's id
}

func (m h254Model) ids(keep func(th, ns, mdNS string) bool) map[string]bool {
	out := map[string]bool{}
	for id, c := range m.cps {
		if keep(c[0], c[1], c[3]) {
			out[id] = true
		}
	}
	return out
}

// h254Check runs call on ro and returns its error; wrong gets every
// answer that is not the model's (a value of another checkpoint, one
// missing from a listing that returned no error, one never stored).
func h254Check(ctx context.Context, ro *Store, m h254Model, call, dir, damage string, wrong func(format string, a ...any)) error {
	// A meta page whose checksum holds and whose root is another page
	// reads as a store without those threads (h253): listings may then
	// miss checkpoints without an error, never read one wrong.
	whole := damage != "meta-root"
	tuple := func(tu *Tuple) {
		c, ok := m.cps[tu.Config.CheckpointID]
		switch {
		case !ok:
			wrong("%s yields %s, never stored", call, tu.Config.CheckpointID)
		case c[0] != tu.Config.ThreadID || c[1] != tu.Config.CheckpointNS || c[2] != h254Print(tu):
			wrong("%s reads %s as %s/%q %s, want %s/%q %s", call, tu.Config.CheckpointID, tu.Config.ThreadID, tu.Config.CheckpointNS, h254Print(tu), c[0], c[1], c[2])
		}
	}
	set := func(what string, got, want map[string]bool) {
		if whole && !maps.Equal(got, want) {
			wrong("%s: %s without an error yields %d of %d", call, what, len(got), len(want))
		}
	}
	list := func(opts ListOptions, want map[string]bool) error {
		got := map[string]bool{}
		for tu, err := range ro.List(ctx, opts) {
			if err != nil {
				return err
			}
			tuple(tu)
			got[tu.Config.CheckpointID] = true
		}
		set(fmt.Sprintf("List(%+v)", opts), got, want)
		return nil
	}
	all := m.ids(func(string, string, string) bool { return true })
	switch call {
	case "GetTupleLatest":
		var errs []error
		for _, th := range []string{"t0", "t1", "t2"} {
			tu, err := ro.GetTuple(ctx, Config{ThreadID: th})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			tuple(tu)
			if tu.Config.CheckpointID != m.latest[th] {
				wrong("GetTuple latest of %s: %s, want %s", th, tu.Config.CheckpointID, m.latest[th])
			}
		}
		return errors.Join(errs...)
	case "GetTupleByID":
		var errs []error
		ids := slices.Sorted(maps.Keys(m.cps))
		for i := 0; i < len(ids); i += 7 {
			c := m.cps[ids[i]]
			tu, err := ro.GetTuple(ctx, Config{ThreadID: c[0], CheckpointNS: c[1], CheckpointID: ids[i]})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			tuple(tu)
		}
		return errors.Join(errs...)
	case "List":
		return list(ListOptions{ThreadID: "t1", Namespace: NS(""), Filter: map[string]any{"ns": "a"}},
			m.ids(func(th, ns, mdNS string) bool { return th == "t1" && ns == "" && mdNS == "a" }))
	case "ListAll":
		return list(ListOptions{}, all)
	case "ListIDs":
		got := map[string]bool{}
		for c, err := range ro.ListIDs(ctx, ListOptions{ThreadID: "t1"}) {
			if err != nil {
				return err
			}
			if mc, ok := m.cps[c.CheckpointID]; !ok || mc[0] != c.ThreadID || mc[1] != c.CheckpointNS {
				wrong("ListIDs yields %s/%q %s: the model has %v", c.ThreadID, c.CheckpointNS, c.CheckpointID, mc)
			}
			got[c.CheckpointID] = true
		}
		set("ListIDs(t1)", got, m.ids(func(th, _, _ string) bool { return th == "t1" }))
		return nil
	case "History":
		got := map[string]bool{}
		for snap, err := range ro.History(ctx, "t1", ListOptions{}) {
			if err != nil {
				return err
			}
			tu, err := ro.GetTuple(ctx, Config{ThreadID: "t1", CheckpointID: snap.CheckpointID})
			if err != nil {
				return err
			}
			tuple(tu)
			if c := m.cps[snap.CheckpointID]; c[0] != "t1" || c[1] != "" {
				wrong("History(t1) yields %s of %v", snap.CheckpointID, c)
			}
			got[snap.CheckpointID] = true
		}
		set("History(t1)", got, m.ids(func(th, ns, _ string) bool { return th == "t1" && ns == "" }))
		return nil
	case "Thread", "Threads":
		want := map[string]int{}
		for _, c := range m.cps {
			want[c[0]]++
		}
		info := func(ti ThreadInfo) {
			if n, ok := want[ti.ThreadID]; !ok || (whole && n != ti.Checkpoints) {
				wrong("%s: %s with %d checkpoints, the model %d", call, ti.ThreadID, ti.Checkpoints, n)
			}
		}
		if call == "Thread" {
			var errs []error
			for _, th := range []string{"t0", "t1", "t2"} {
				ti, err := ro.Thread(ctx, th)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				info(ti)
			}
			return errors.Join(errs...)
		}
		var errs []error
		got := map[string]bool{}
		for ti, err := range ro.Threads(ctx) {
			if err != nil {
				errs = append(errs, err)
				if !errors.Is(err, ErrCorrupt) { // a thread's own error, the walk goes on
					break
				}
				continue
			}
			info(ti)
			got[ti.ThreadID] = true
		}
		if len(errs) == 0 {
			set("Threads", got, m.threads())
		}
		return errors.Join(errs...)
	case "RecentThreads":
		page, err := ro.RecentThreads(ctx, ThreadQuery{})
		if err != nil {
			return err
		}
		var errs []error
		got := map[string]bool{}
		for i, ti := range page.Threads {
			if page.Errs != nil && page.Errs[i] != nil {
				errs = append(errs, page.Errs[i])
				continue
			}
			got[ti.ThreadID] = true
			if c := m.cps[ti.NewestID]; c[0] != ti.ThreadID {
				wrong("RecentThreads: %s's newest %s is the model's %v", ti.ThreadID, ti.NewestID, c)
			}
		}
		if len(errs) == 0 {
			set("RecentThreads", got, m.threads())
		}
		return errors.Join(errs...)
	case "Stats":
		st, err := ro.Stats(ctx)
		if err == nil && len(st.DamagedThreads) == 0 && whole && st.Checkpoints != len(m.cps) {
			wrong("Stats counts %d checkpoints and no damaged thread, the model %d", st.Checkpoints, len(m.cps))
		}
		if err == nil && len(st.DamagedThreads) > 0 {
			err = fmt.Errorf("%w: stats: damaged threads %q", ErrCorrupt, st.DamagedThreads)
		}
		return err
	case "Verify":
		rep, err := ro.Verify(ctx, VerifyOptions{})
		if err == nil && rep != nil && len(rep.Problems) == 0 {
			// Every kind of damage here is in the file: one Verify
			// calls sound is left to the next Open to meet.
			wrong("Verify finds no problem in the file damaged by %s", damage)
		}
		if err == nil && rep != nil && len(rep.Problems) > 0 {
			return fmt.Errorf("%w: verify: %d problems (%v)", ErrCorrupt, len(rep.Problems), rep.Problems[0])
		}
		return err
	case "Export", "ExportSkip":
		var dump bytes.Buffer
		sum, err := ro.Export(ctx, &dump, ExportOptions{SkipDamaged: call == "ExportSkip"})
		if err != nil {
			return err
		}
		// What the dump holds, imported into a new store: every
		// checkpoint the model's, and every one of each thread it holds.
		return h254ReadBack(ctx, filepath.Join(dir, "imp.db"), func(s *Store) error {
			if _, err := s.Import(ctx, &dump, ImportOptions{}); err != nil {
				return fmt.Errorf("h254: import of the dump: %v", err)
			}
			left := map[string]bool{}
			for _, th := range sum.Damaged {
				left[th] = true
			}
			return list2(ctx, s, tuple, set, call, m.ids(func(th, _, _ string) bool { return !left[th] }))
		})
	case "BackupFile":
		b := filepath.Join(dir, "b.db")
		if err := ro.BackupFile(ctx, b); err != nil {
			return err
		}
		// The copy holds the damage too: it reads exact or ErrCorrupt.
		c, err := Open(b, Options{ReadOnly: true})
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				return nil
			}
			return fmt.Errorf("h254: open of the backup: %w", err)
		}
		defer c.Close()
		for tu, err := range c.List(ctx, ListOptions{}) {
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					return fmt.Errorf("h254: list of the backup: %w", err)
				}
				break
			}
			tuple(tu)
		}
		return nil
	case "Backup":
		return ro.Backup(ctx, io.Discard)
	case "none":
		return nil
	}
	return fmt.Errorf("h254: call %q", call)
}

func (m h254Model) threads() map[string]bool {
	out := map[string]bool{}
	for _, c := range m.cps {
		out[c[0]] = true
	}
	return out
}

// list2 lists every checkpoint of s, each judged by tuple, the set by set.
func list2(ctx context.Context, s *Store, tuple func(*Tuple), set func(string, map[string]bool, map[string]bool), call string, want map[string]bool) error {
	got := map[string]bool{}
	for tu, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			return fmt.Errorf("h254: list of the imported dump: %v", err)
		}
		tuple(tu)
		got[tu.Config.CheckpointID] = true
	}
	set(call+": the dump", got, want)
	return nil
}

// h254ReadBack opens a new store at path, runs fn on it and closes it.
func h254ReadBack(ctx context.Context, path string, fn func(*Store) error) error {
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		return fmt.Errorf("h254: %v", err)
	}
	return errors.Join(fn(s), s.Close())
}

// TestH254ReadOnlyChild is the child of TestH254ReadOnlyCallsOverPagesDamagedUnderTheHandle.
func TestH254ReadOnlyChild(t *testing.T) {
	c := os.Getenv(h254CaseEnv)
	if c == "" {
		t.Skip("the child of TestH254ReadOnlyCallsOverPagesDamagedUnderTheHandle")
	}
	p := strings.Split(c, "/")
	damage, call := p[1], p[2]
	path := os.Getenv(h254PathEnv)
	ctx := context.Background()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	m := h254Model{cps: map[string][4]string{}, latest: map[string]string{}}
	for tu, err := range ro.List(ctx, ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		md, _ := tu.Metadata["ns"].(string)
		m.cps[tu.Config.CheckpointID] = [4]string{tu.Config.ThreadID, tu.Config.CheckpointNS, h254Print(tu), md}
	}
	for _, th := range []string{"t0", "t1", "t2"} {
		tu, err := ro.GetTuple(ctx, Config{ThreadID: th})
		if err != nil {
			t.Fatal(err)
		}
		m.latest[th] = tu.Config.CheckpointID
	}
	if len(m.ids(func(th, ns, mdNS string) bool { return th == "t1" && ns == "" && mdNS == "a" })) == 0 {
		t.Fatal("the model has no checkpoint List's filter keeps")
	}
	if !h253Damage(t, path, damage) {
		fmt.Println("H254 skip")
		return
	}
	say := func(step string, err error) {
		msg := ""
		if err != nil {
			msg = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Printf("H254 %s %s %s\n", step, h253Class(err), msg)
	}
	nwrong := 0
	say("call", h254Check(ctx, ro, m, call, filepath.Dir(path), damage, func(format string, a ...any) {
		if nwrong++; nwrong <= 5 {
			fmt.Printf("H254 wrong %s\n", strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " "))
		}
	}))
	say("close", ro.Close())
	fmt.Println("H254 done")
}

// TestH254ReadOnlyCallsOverPagesDamagedUnderTheHandle: for every read of a
// read-only handle (over a closed store, and over a killed writer's
// unapplied log) and every damage h253 writes, written while the handle
// is open, the child process survives and returns within a bound, the
// call and Close return nil or an ErrCorrupt / ErrFailed error, and no
// answer is another checkpoint's, one never stored, or a listing short
// of the model without an error. Under -race it samples the cases
// (raceSample).
func TestH254ReadOnlyCallsOverPagesDamagedUnderTheHandle(t *testing.T) {
	if testing.Short() {
		t.Skip("a child process a case")
	}
	t.Parallel()
	keep := raceSample(t, 10)
	built := map[string]string{}
	for _, h := range h254Handles {
		built[h] = filepath.Join(t.TempDir(), h+".db")
		h254BuildRO(t, built[h], h)
	}
	bin := testchild.Binary()
	n := 0
	for _, h := range h254Handles {
		for _, damage := range h253Damages {
			for _, call := range h254Calls {
				if n++; !keep(n - 1) {
					continue
				}
				name := h + "/" + damage + "/" + call
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					path := filepath.Join(t.TempDir(), "s.db")
					for _, suf := range []string{"", walSuffix} {
						if _, err := os.Stat(built[h] + suf); err == nil {
							copyFileIn(t, built[h]+suf, path+suf)
						}
					}
					h254Case(t, bin, name, path)
				})
			}
		}
	}
}

// h254Case runs the child for case name on path and judges what it said
// (damageChildCase).
func h254Case(t *testing.T, bin, name, path string) {
	t.Helper()
	damageChildCase(t, bin, "TestH254ReadOnlyChild", "H254", name,
		[]string{h254CaseEnv + "=" + name, h254PathEnv + "=" + path}, "call", "close")
}

// TestH254VerifyOfAReadOnlyHandleSeesAMetaPageWrittenUnderIt: a read-only
// handle over a killed writer's log reads through pooled transactions
// begun before the damage, so a meta page written under it (its
// checksum valid, its transaction id the same, its root another page)
// changes none of its reads; Verify must still report it: the file's
// next Open reads that meta page.
func TestH254VerifyOfAReadOnlyHandleSeesAMetaPageWrittenUnderIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	built := filepath.Join(t.TempDir(), "built.db")
	h254BuildRO(t, built, "ro-log") // its writer stays open: a copy
	path := filepath.Join(t.TempDir(), "s.db")
	for _, suf := range []string{"", walSuffix} {
		copyFileIn(t, built+suf, path+suf)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := h229FirstErr(ro.List(ctx, ListOptions{})); err != nil {
		t.Fatal(err)
	}
	h253Damage(t, path, "meta-root")
	rep, err := ro.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Errorf("Verify finds the file sound; its current meta page names another root page")
	}
	for _, p := range rep.Problems {
		t.Logf("problem: %s: %s", p.Check, p.Detail)
	}
}
