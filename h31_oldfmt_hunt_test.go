package ckpt

// The damage hunt of hang_hunt_test.go on files of every older format,
// and on what the reads return (h31-oldfmt). The store hangFixture writes
// is rewritten as formats 3 to 7 wrote it (toFormat: CRC-32C sums, XXH3
// of the record, XXH3 of key and record, of thread, key and record; no
// write tallies, no directory of threads, a directory without its
// namespaces; and a file of format 7 written before the directory joined
// it), and each round damages one of those, the store itself or the
// format-2 file of testdata, as TestHuntHangsOnDamagedFiles does, and runs
// every op of that test on it under its watchdog: a read-write Open
// upgrades the damaged file in place first.
//
// Then it checks the values: every GetTuple, List, Load and Latest on the
// damaged copy, read-only as it is and read-write once Open upgraded it,
// that returns no error must return exactly what the same read returns
// on the intact file (a List that ends with an error must still have
// yielded only checkpoints the intact file holds, each as it reads
// there). An error is always fine; a wrong value with none is a failure.
// Files of older formats are held to what their format can tell
// (valueTrust): nothing for formats 2 to 4 (no sums, or sums that do not
// cover the keys), a checkpoint's own values for 5 (sums that do not
// cover its thread), and for 6 and a format 7 file without its directory
// every checkpoint returned one of the intact file's, some missing (no
// directory or write tallies to tell a hidden thread or pending write
// from none).
//
// 16 rounds (4 under -short or -race) from seed 31000, the fixture
// changing every round (each meets the four combinations of tuning and
// log every 32 rounds); CKPT_HUNT_ROUNDS, CKPT_HUNT_SEED, CKPT_HUNT_ONLY,
// CKPT_HUNT_FILE and CKPT_HUNT_DAMAGE as in hang_hunt_test.go;
// CKPT_HUNT_FIXTURES=D keeps the intact files in D (keptFixtures), so
// that a damaged file kept runs again against them.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// huntWrong is an op's report of a read that returned no error and a
// value other than the intact file's: the hunt fails the round.
type huntWrong struct{ diffs []string }

func (e *huntWrong) Error() string {
	return fmt.Sprintf("%d reads returned a wrong value and no error:\n%s", len(e.diffs), strings.Join(e.diffs, "\n"))
}

// huntValues is what the reads of a store return: each successful read
// by its name, and every checkpoint a read returned by its config.
type huntValues struct {
	reads  map[string]string
	tuples map[string]string // config -> tupleValue, from any read
	snaps  map[string]string // thread|id -> snapshotValue, from Load and Latest
	// items names what each read returned: configs (tuples) or thread|id
	// (snapshots), those of a List that ended with an error included.
	items map[string][]string
	// failed: the List ended with an error (its items are checked, not
	// the read).
	failed map[string]bool
}

func configName(c Config) string { return c.ThreadID + "|" + c.CheckpointNS + "|" + c.CheckpointID }

// tupleValue describes tp in full (ids, parent, decoded values, versions,
// metadata, pending writes); false when a value does not decode (an
// error the reader sees).
func tupleValue(tp *Tuple) (string, bool) {
	vals := map[string]any{}
	for ch, raw := range tp.Checkpoint.ChannelValues {
		r, ok := raw.(Raw)
		if !ok {
			return "", false
		}
		v, err := r.Value()
		if err != nil {
			return "", false
		}
		vals[ch] = v
	}
	writes := []any{}
	for _, w := range tp.PendingWrites {
		v, err := w.Value.Value()
		if err != nil {
			return "", false
		}
		writes = append(writes, []any{w.TaskID, w.TaskPath, w.Idx, w.Channel, v})
	}
	parent := ""
	if tp.ParentConfig != nil {
		parent = configName(*tp.ParentConfig)
	}
	b, err := json.Marshal([]any{configName(tp.Config), parent, tp.Checkpoint.ID, tp.Checkpoint.TS, vals, tp.Checkpoint.ChannelVersions, tp.Checkpoint.VersionsSeen, tp.Metadata, writes})
	if err != nil {
		return "", false
	}
	return string(b), true
}

func snapshotValue(sn *Snapshot) (string, bool) {
	vals := map[string]any{}
	for ch, raw := range sn.State {
		v, err := raw.Value()
		if err != nil {
			return "", false
		}
		vals[ch] = v
	}
	b, err := json.Marshal([]any{sn.ThreadID, sn.CheckpointID, sn.ParentID, sn.Time, vals, sn.Metadata})
	if err != nil {
		return "", false
	}
	return string(b), true
}

// readValues runs the reads on s (the configs of cfgs by id, the latest
// of each thread and namespace, Lists of every kind) and returns what
// each returned.
func readValues(ctx context.Context, s *Store, cfgs []Config) huntValues {
	out := huntValues{reads: map[string]string{}, tuples: map[string]string{}, snaps: map[string]string{}, items: map[string][]string{}, failed: map[string]bool{}}
	get := func(name string, c Config) {
		if tp, err := s.GetTuple(ctx, c); err == nil {
			if v, ok := tupleValue(tp); ok {
				out.reads[name] = v
				out.tuples[configName(tp.Config)] = v
				out.items[name] = []string{configName(tp.Config)}
			}
		}
	}
	snap := func(name string, sn *Snapshot, err error) {
		if err != nil {
			return
		}
		if v, ok := snapshotValue(sn); ok {
			out.reads[name] = v
			out.snaps[sn.ThreadID+"|"+sn.CheckpointID] = v
			out.items[name] = []string{sn.ThreadID + "|" + sn.CheckpointID}
		}
	}
	list := func(name string, o ListOptions) {
		var items []string
		var names []string
		failed := false
		for tp, err := range s.List(ctx, o) {
			if err != nil {
				failed = true
				break
			}
			v, ok := tupleValue(tp)
			if !ok {
				failed = true
				break
			}
			items = append(items, v)
			names = append(names, configName(tp.Config))
			out.tuples[configName(tp.Config)] = v
		}
		out.items[name] = names
		if failed {
			out.failed[name] = true
			return
		}
		out.reads[name] = strings.Join(items, "\n")
	}
	threads := []string{"save-3", "copy-of-save-1"}
	for _, c := range cfgs {
		if !slices.Contains(threads, c.ThreadID) {
			threads = append(threads, c.ThreadID)
		}
	}
	list("list", ListOptions{})
	list("list limit 3", ListOptions{Limit: 3})
	list("list node n1", ListOptions{Filter: map[string]any{"node": "n1"}})
	for _, th := range threads {
		list("list "+th, ListOptions{ThreadID: th})
		list("list "+th+" sub", ListOptions{ThreadID: th, Namespace: NS("sub")})
		list("list "+th+" root limit 2", ListOptions{ThreadID: th, Namespace: NS(""), Limit: 2})
		for _, ns := range []string{"", "sub", "sub:inner|deep"} {
			get("latest "+th+"|"+ns, Config{ThreadID: th, CheckpointNS: ns})
		}
		sn, err := s.Latest(ctx, th)
		snap("Latest "+th, sn, err)
	}
	for i, c := range cfgs {
		get("get "+configName(c), c)
		if c.CheckpointNS == "" {
			sn, err := s.Load(ctx, c.ThreadID, c.CheckpointID)
			snap("Load "+configName(c), sn, err)
		}
		if i%4 == 0 {
			list("list "+configName(c)+" before", ListOptions{ThreadID: c.ThreadID, Before: c.CheckpointID, Limit: 4})
		}
	}
	return out
}

// valueTrust is what the format of a file lets the reads of a damaged
// copy be held to.
type valueTrust int

const (
	// trustNone: format 2, records without sums: a damaged value reads
	// as it is; formats 3 and 4, sums over the record alone (kept by the
	// upgrade): a damaged key moves a value, a checkpoint's metadata or
	// a pending write under another version, checkpoint or task, and it
	// reads there.
	trustNone valueTrust = iota
	// trustValues: format 5, sums that cover key and record but not the
	// thread: a checkpoint may come back under another thread (its
	// thread's name damaged) or be missed, but one read under its own
	// config holds its own values, versions, metadata and parent
	// (pending writes are not checked: no tallies).
	trustValues
	// trustReturned: format 6 and a format 7 file without its directory
	// of threads (sums over thread, key and record; no write tallies or
	// no directory, the upgrade building them from what it finds): a
	// read may miss a thread, a checkpoint or a pending write damage
	// hides, but every checkpoint it returns is one of the intact file,
	// with its values and some of its pending writes.
	trustReturned
	// trustAll: formats 7 and 8: every read is the intact file's.
	trustAll
)

func trustOf(fixture string) valueTrust {
	switch fixture {
	case "format2", "format3", "format4":
		return trustNone
	case "format5":
		return trustValues
	case "format6", "format7-dirless":
		return trustReturned
	}
	return trustAll
}

// wrongValues lists the reads of got that returned no error and other
// than want, as far as trust holds them to it.
func wrongValues(want, got huntValues, trust valueTrust) []string {
	if trust == trustNone {
		return nil
	}
	var diffs []string
	for name, names := range got.items {
		if trust == trustAll && !got.failed[name] {
			v := got.reads[name]
			w, ok := want.reads[name]
			if !ok || w != v {
				diffs = append(diffs, fmt.Sprintf("%s: %s", name, valueDiff(v, w, ok)))
			}
			continue
		}
		for _, n := range names {
			g, w, ok := got.tuples[n], "", false
			if strings.HasPrefix(name, "Load ") || strings.HasPrefix(name, "Latest ") {
				g = got.snaps[n]
				w, ok = want.snaps[n]
			} else {
				w, ok = want.tuples[n]
			}
			if !ok && trust == trustValues {
				continue // (trustValues: a damaged key names it)
			}
			if !ok || !sameCheckpoint(g, w, trust) {
				diffs = append(diffs, fmt.Sprintf("%s yielded %s: %s", name, n, valueDiff(g, w, ok)))
			}
		}
	}
	slices.Sort(diffs)
	return diffs
}

// sameCheckpoint compares two tupleValues (or snapshotValues) as trust
// holds them: all of it, or (trustReturned) the got writes a subset of
// the wanted, or (trustValues) writes not at all.
func sameCheckpoint(got, want string, trust valueTrust) bool {
	if got == want || trust == trustAll {
		return got == want
	}
	var g, w []json.RawMessage
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil || len(g) != len(w) {
		return false
	}
	if len(g) != 9 { // a snapshot: no writes
		return false
	}
	for i := range 8 {
		if string(g[i]) != string(w[i]) {
			return false
		}
	}
	if trust == trustValues {
		return true
	}
	var gw, ww []json.RawMessage
	if json.Unmarshal(g[8], &gw) != nil || json.Unmarshal(w[8], &ww) != nil {
		return false
	}
	for _, x := range gw {
		if !slices.ContainsFunc(ww, func(y json.RawMessage) bool { return string(x) == string(y) }) {
			return false
		}
	}
	return true
}

// valueDiff shows where got and want part (ok: want was read at all).
func valueDiff(got, want string, ok bool) string {
	if !ok {
		return fmt.Sprintf("not read on the intact file; got %.300q", got)
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("from byte %d: got ...%.240q, want ...%.240q", i, got[from:], want[from:])
}

// valueOps are the ops that check the reads of a damaged copy of a
// fixture against want, those of the intact file, as far as trust goes.
func valueOps(want huntValues, trust valueTrust) []hangOp {
	check := func(ctx context.Context, path string, cfgs []Config, ro bool) error {
		return withHangStore(ctx, path, ro, func(s *Store) error {
			if diffs := wrongValues(want, readValues(ctx, s, cfgs), trust); len(diffs) > 0 {
				return &huntWrong{diffs}
			}
			return nil
		})
	}
	return []hangOp{
		{"read-only values", func(ctx context.Context, path string, cfgs []Config) error { return check(ctx, path, cfgs, true) }},
		{"upgraded values", func(ctx context.Context, path string, cfgs []Config) error { return check(ctx, path, cfgs, false) }},
	}
}

// oldFormatFixtures returns the store of hangFixture, the format-2 file
// of testdata (hangFixtures), and the store rewritten as each format from
// 3 to 7 wrote it, and as a file of format 7 without its directory of
// threads.
func oldFormatFixtures(t *testing.T, dir string) []hangFix {
	fixes := hangFixtures(t, dir)
	store := fixes[0]
	for _, f := range []uint32{3, 4, 5, 6, 7, 7} {
		name := fmt.Sprintf("format%d", f)
		if slices.ContainsFunc(fixes, func(x hangFix) bool { return x.name == name }) {
			name += "-dirless"
		}
		p := filepath.Join(dir, name+".db")
		if err := os.WriteFile(p, store.data, 0o600); err != nil {
			t.Fatal(err)
		}
		// (Open read-write rolls back the unfinished import of the
		// store: those threads are gone from the older formats.)
		s, err := Open(p, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		toFormat(t, s, f)
		if strings.HasSuffix(name, "-dirless") {
			if err := s.write(context.Background(), func(w writer) error { return w.DropBucket(dirPath) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fixes = append(fixes, hangFix{name: name, data: b, cfgs: store.cfgs})
	}
	return fixes
}

// keptFixtures returns oldFormatFixtures, kept in CKPT_HUNT_FIXTURES=D
// when set: read from D when it holds them, else written there. A kept
// damaged file (CKPT_HUNT_FILE) is checked against the reads of the
// intact file it was made from, so it runs again with the same D.
func keptFixtures(t *testing.T, dir string) []hangFix {
	keep := os.Getenv("CKPT_HUNT_FIXTURES")
	if keep != "" {
		if b, err := os.ReadFile(filepath.Join(keep, "fixtures.json")); err == nil {
			var fixes []hangFix
			var saved []struct {
				Name string
				Data []byte
				Cfgs []Config
			}
			if err := json.Unmarshal(b, &saved); err != nil {
				t.Fatal(err)
			}
			for _, f := range saved {
				fixes = append(fixes, hangFix{name: f.Name, data: f.Data, cfgs: f.Cfgs})
			}
			return fixes
		}
	}
	fixes := oldFormatFixtures(t, dir)
	if keep != "" {
		var saved []any
		for _, f := range fixes {
			saved = append(saved, map[string]any{"Name": f.name, "Data": f.data, "Cfgs": f.cfgs})
		}
		b, err := json.Marshal(saved)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(keep, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keep, "fixtures.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fixes
}

func TestHuntOldFormatsOnDamagedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fixes := keptFixtures(t, dir)
	// What the intact files read, read-only and upgraded alike.
	wants := map[string]huntValues{}
	for _, fix := range fixes {
		var ro, rw huntValues
		for _, readOnly := range []bool{true, false} {
			p := filepath.Join(dir, "intact.db")
			_ = os.Remove(p + "-wal")
			if err := os.WriteFile(p, fix.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := withHangStore(ctx, p, readOnly, func(s *Store) error {
				v := readValues(ctx, s, fix.cfgs)
				if len(v.failed) > 0 {
					t.Errorf("%s (read-only %v): intact file: Lists failed: %v", fix.name, readOnly, v.failed)
				}
				if readOnly {
					ro = v
				} else {
					rw = v
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if diffs := wrongValues(ro, rw, trustAll); len(diffs) > 0 || len(ro.reads) != len(rw.reads) {
			t.Fatalf("%s: the intact file reads otherwise upgraded (%d reads, %d read-only):\n%s", fix.name, len(rw.reads), len(ro.reads), strings.Join(diffs, "\n"))
		}
		wants[fix.name] = ro
		t.Logf("%s: %d reads, %d checkpoints listed", fix.name, len(ro.reads), len(ro.tuples))
	}
	// The first rounds (all there are under -race) on the files whose
	// values are checked most.
	order := []string{"store", "format7", "format6", "format5", "format7-dirless", "format4", "format3", "format2"}
	slices.SortStableFunc(fixes, func(a, b hangFix) int { return slices.Index(order, a.name) - slices.Index(order, b.name) })
	rounds, seed := huntRoundsFromEnv(16, 4, 31000)
	huntDamagedRounds(t, dir, rounds, seed, func(r int) hangFix {
		return fixes[(r+r/len(fixes))%len(fixes)]
	}, func(fix hangFix) []hangOp {
		if trustOf(fix.name) == trustNone {
			return hangOps
		}
		return append(slices.Clip(hangOps), valueOps(wants[fix.name], trustOf(fix.name))...)
	})
}
