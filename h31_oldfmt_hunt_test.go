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
//
// huntOldFormatRounds rounds (16; 8 under -short or -race) from seed
// 31000, the fixture changing every round (each meets the four
// combinations of tuning and log every 32 rounds); CKPT_HUNT_ROUNDS,
// CKPT_HUNT_SEED, CKPT_HUNT_ONLY, CKPT_HUNT_FILE and CKPT_HUNT_DAMAGE as
// in hang_hunt_test.go.

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
// by its name, and every checkpoint a List yielded by its config.
type huntValues struct {
	reads  map[string]string
	tuples map[string]string // config -> tupleValue, from any List
	// listed names, for each List that ended with an error, the
	// checkpoints it yielded before it did (checked against tuples of
	// the intact file).
	listed map[string][]string
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
	var writes []any
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
	out := huntValues{reads: map[string]string{}, tuples: map[string]string{}, listed: map[string][]string{}}
	get := func(name string, c Config) {
		if tp, err := s.GetTuple(ctx, c); err == nil {
			if v, ok := tupleValue(tp); ok {
				out.reads[name] = v
			}
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
		if failed {
			out.listed[name] = names
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
		if sn, err := s.Latest(ctx, th); err == nil {
			if v, ok := snapshotValue(sn); ok {
				out.reads["Latest "+th] = v
			}
		}
	}
	for i, c := range cfgs {
		get("get "+configName(c), c)
		if c.CheckpointNS == "" {
			if sn, err := s.Load(ctx, c.ThreadID, c.CheckpointID); err == nil {
				if v, ok := snapshotValue(sn); ok {
					out.reads["Load "+configName(c)] = v
				}
			}
		}
		if i%4 == 0 {
			list("list "+configName(c)+" before", ListOptions{ThreadID: c.ThreadID, Before: c.CheckpointID, Limit: 4})
		}
	}
	return out
}

// wrongValues lists the reads of got that returned no error and other
// than want.
func wrongValues(want, got huntValues) []string {
	var diffs []string
	for name, v := range got.reads {
		if w, ok := want.reads[name]; !ok || w != v {
			diffs = append(diffs, fmt.Sprintf("%s:\n  got  %.600s\n  want %.600s", name, v, w))
		}
	}
	for name, cfgs := range got.listed {
		for _, c := range cfgs {
			if w, ok := want.tuples[c]; !ok || w != got.tuples[c] {
				diffs = append(diffs, fmt.Sprintf("%s (ended with an error) yielded %s:\n  got  %.600s\n  want %.600s", name, c, got.tuples[c], w))
			}
		}
	}
	slices.Sort(diffs)
	return diffs
}

// valueOps are the ops that check the reads of a damaged copy of fix
// against want, those of the intact file.
func valueOps(want huntValues) []hangOp {
	check := func(ctx context.Context, path string, cfgs []Config, ro bool) error {
		return withHangStore(ctx, path, ro, func(s *Store) error {
			if diffs := wrongValues(want, readValues(ctx, s, cfgs)); len(diffs) > 0 {
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
		fixes = append(fixes, hangFix{name, b, store.cfgs})
	}
	return fixes
}

func TestHuntOldFormatsOnDamagedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fixes := oldFormatFixtures(t, dir)
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
				if len(v.listed) > 0 {
					t.Errorf("%s (read-only %v): intact file: Lists failed: %v", fix.name, readOnly, v.listed)
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
		if diffs := wrongValues(ro, rw); len(diffs) > 0 || len(ro.reads) != len(rw.reads) {
			t.Fatalf("%s: the intact file reads otherwise upgraded (%d reads, %d read-only):\n%s", fix.name, len(rw.reads), len(ro.reads), strings.Join(diffs, "\n"))
		}
		wants[fix.name] = ro
		t.Logf("%s: %d reads, %d checkpoints listed", fix.name, len(ro.reads), len(ro.tuples))
	}
	rounds, seed := huntRoundsFromEnv(16, 8, 31000)
	huntDamagedRounds(t, dir, rounds, seed, func(r int) hangFix {
		return fixes[(r+r/len(fixes))%len(fixes)]
	}, func(fix hangFix) []hangOp {
		return append(slices.Clip(hangOps), valueOps(wants[fix.name])...)
	})
}
