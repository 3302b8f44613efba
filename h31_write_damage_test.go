package ckpt

// Writes on damaged files, then reads (h31-wdmg). The hunts of
// hang_hunt_test.go and h31_oldfmt_hunt_test.go check what the reads of a
// damaged copy return; their writes are only watched for hangs and panics.
// Here each round damages a copy of hangFixture's store (biased toward the
// pages of the threads the round writes to, keys, branch pages and bucket
// headers), opens it read-write (with or without the log, tuned or not, as
// huntDamagedRounds picks), and writes: Saves to existing and new threads,
// a fork, Puts with their pending writes, pending writes on a checkpoint of
// the intact file, DeleteThread of one thread, maybe GC with KeepLast and
// Compact. Each write that returned nil is recorded with what it stored.
// The store is closed and opened again, and:
//
//  1. every acknowledged write reads back exactly (GetTuple or Load by id:
//     values, parent, metadata, pending writes), or the read says
//     ErrCorrupt: never another value, never ErrNotFound for a checkpoint
//     no delete or GC was asked to remove;
//  2. every checkpoint of the intact file that no write asked to remove
//     reads back as on the intact file (the pending writes the round added
//     included), or the read returns an error; every checkpoint any read
//     (readValues) returns is one of the intact file or one the round
//     wrote, each as it should read;
//  3. nothing a write that returned an error stored is visible (each write
//     carries a marker of its own);
//  4. Verify reports a problem whenever 1 or 2 saw an error.
//
// 24 rounds (12 under -short or -race, about 2.5 s) from seed 31500; CKPT_HUNT_ROUNDS,
// CKPT_HUNT_SEED, CKPT_HUNT_ONLY, CKPT_HUNT_FILE, CKPT_HUNT_DAMAGE and
// CKPT_HUNT_VERBOSE as in hang_hunt_test.go, CKPT_HUNT_FIXTURES=D keeping
// the intact store in D (wdmgFixture).

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// wdmgAck is a write that returned nil and what it stored.
type wdmgAck struct {
	what   string
	cfg    Config // thread, namespace and id
	parent string // the parent id it was given ("" : not checked)
	put    bool   // a Put (read with GetTuple), else a Save (read with Load)
	values map[string]any
	meta   Metadata
	writes []string // pending writes acknowledged on it (wdmgWrite)
}

// wdmgWrite names a pending write for comparison: task, path, index,
// channel and value as tupleValue shows them.
func wdmgWrite(taskID, taskPath string, idx int, ch string, v any) string {
	b, _ := json.Marshal([]any{taskID, taskPath, idx, ch, v})
	return string(b)
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// threadPages lists, for each thread of the closed store at path, the
// pages of its bucket's tree (its own and those of the buckets nested in
// it: checkpoints, metadata, writes, blobs), branch pages first.
func threadPages(t *testing.T, path string) map[string][]boltPage {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	roots := map[string]uint64{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEachBucket(func(name []byte) error {
			roots[string(name)] = uint64(tx.Bucket(bucketThreads).Bucket(name).Root())
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	out := map[string][]boltPage{}
	for thread, root := range roots {
		var pages []boltPage
		var walk func(id uint64, depth int)
		walk = func(id uint64, depth int) {
			off := int(id) * ps
			if id < 2 || off+ps > len(file) || depth > 20 {
				return
			}
			pg := boltPage{off: off, flags: binary.LittleEndian.Uint16(file[off+8:]), count: int(binary.LittleEndian.Uint16(file[off+10:]))}
			switch pg.flags {
			case 0x01:
				pages = append(pages, pg)
				for i := range pg.count {
					walk(binary.LittleEndian.Uint64(file[off+16+16*i+8:]), depth+1)
				}
			case 0x02:
				pages = append(pages, pg)
				for _, e := range boltPageElems(file, pg) {
					if binary.LittleEndian.Uint32(file[e.hdrOff:])&1 != 0 && e.valLen >= 16 {
						walk(binary.LittleEndian.Uint64(file[e.valOff:]), depth+1)
					}
				}
			}
		}
		walk(root, 0)
		slices.SortStableFunc(pages, func(a, b boltPage) int { return int(a.flags) - int(b.flags) })
		out[thread] = pages
	}
	return out
}

// wdmgDamage damages b: mostly on a page of one of the threads the round
// writes to (an element's header, key or value head, or the page's
// header; a branch page as often as a leaf), else in the ways of
// hangDamages that touch keys, headers and branch pages.
func wdmgDamage(rng *rand.Rand, b []byte, pages map[string][]boltPage, threads []string) string {
	if only := os.Getenv("CKPT_HUNT_DAMAGE"); only != "" {
		for _, d := range hangDamages {
			if d.name == only {
				return d.name + " " + d.do(rng, b)
			}
		}
	}
	if rng.IntN(3) > 0 {
		thread := threads[rng.IntN(len(threads))]
		pgs := pages[thread]
		nb := 0
		for nb < len(pgs) && pgs[nb].flags == 0x01 {
			nb++
		}
		if len(pgs) > 0 {
			pg := pgs[rng.IntN(len(pgs))]
			if nb > 0 && rng.IntN(2) == 0 {
				pg = pgs[rng.IntN(nb)]
			}
			where := fmt.Sprintf("%s page %d (flags %#x, %d elements): ", thread, pg.off/os.Getpagesize(), pg.flags, pg.count)
			es := boltElems(b, pg)
			if len(es) == 0 || rng.IntN(8) == 0 {
				return "thread-page-header " + where + someByte(rng, b, pg.off+8+rng.IntN(8))
			}
			e := es[rng.IntN(len(es))]
			switch k := rng.IntN(4); {
			case k == 0:
				return "thread-elem-header " + where + someByte(rng, b, e.hdrOff+rng.IntN(16))
			case k == 1 && e.valLen > 0:
				return "thread-value-head " + where + someByte(rng, b, e.valOff+rng.IntN(min(e.valLen, 20)))
			case e.keyLen > 0:
				return "thread-key " + where + someByte(rng, b, e.keyOff+rng.IntN(e.keyLen))
			}
			return "thread-elem-header " + where + someByte(rng, b, e.hdrOff+rng.IntN(16))
		}
	}
	ds := []string{"elem-header", "leaf-key", "branch-key", "branch-key", "key-prefix", "value-head", "value-head", "key-swap", "page-header"}
	name := ds[rng.IntN(len(ds))]
	for _, d := range hangDamages {
		if d.name == name {
			return d.name + " " + d.do(rng, b)
		}
	}
	panic(name)
}

// wdmgIntact is what the intact file holds once opened read-write (its
// unfinished import rolled back): every checkpoint by config, as
// tupleValue shows it, and the ids of each thread and namespace.
type wdmgIntact struct {
	tuples map[string]string
	cfgs   map[string]Config
	heads  map[string][]string // thread|ns -> ids, oldest first
}

func wdmgReadIntact(t *testing.T, path string) wdmgIntact {
	in := wdmgIntact{tuples: map[string]string{}, cfgs: map[string]Config{}, heads: map[string][]string{}}
	ctx := context.Background()
	if err := withHangStore(ctx, path, false, func(s *Store) error {
		for tp, err := range s.List(ctx, ListOptions{}) {
			if err != nil {
				return err
			}
			v, ok := tupleValue(tp)
			if !ok {
				return fmt.Errorf("%s does not decode", configName(tp.Config))
			}
			n := configName(tp.Config)
			in.tuples[n] = v
			in.cfgs[n] = tp.Config
			k := tp.Config.ThreadID + "|" + tp.Config.CheckpointNS
			in.heads[k] = append(in.heads[k], tp.Config.CheckpointID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, ids := range in.heads {
		slices.Sort(ids)
	}
	return in
}

// wdmgRound is one round's writes and what they left to check.
type wdmgRound struct {
	acks      []*wdmgAck
	failed    []string            // markers of writes that returned an error
	addWrites map[string][]string // intact config -> pending writes added to it
	failedOn  map[string]bool     // intact configs a PutWrites failed on
	deleted   string              // thread DeleteThread was asked to remove
	keepLast  int                 // GC's KeepLast (0: no GC)
	log       []string            // each write and its error
}

// wdmgWrites runs the round's writes on s.
func wdmgWrites(ctx context.Context, rng *rand.Rand, s *Store, in wdmgIntact, threads []string, rd *wdmgRound) {
	marker := 0
	next := func() string { marker++; return fmt.Sprintf("mark-%d", marker) }
	note := func(what string, err error) bool {
		rd.log = append(rd.log, fmt.Sprintf("%s: %v", what, err))
		return err == nil
	}
	save := func(c context.Context, thread, parent string) {
		m := next()
		state := map[string]any{"messages": []any{"written on damage", m, rng.IntN(1000)}, "turn": marker, "marker": m}
		meta := Metadata{"step": 500 + marker, "marker": m}
		id, err := s.Save(c, thread, state, meta)
		if !note(fmt.Sprintf("Save %s %s parent %q", m, thread, parent), err) {
			rd.failed = append(rd.failed, m)
			return
		}
		rd.acks = append(rd.acks, &wdmgAck{what: "Save " + m, cfg: Config{ThreadID: thread, CheckpointID: id}, parent: parent, values: state, meta: meta})
	}
	put := func(thread, ns string) {
		m := next()
		parent := ""
		if ids := in.heads[thread+"|"+ns]; len(ids) > 0 {
			parent = ids[len(ids)-1]
		}
		cfg := Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}
		ver := "w" + m
		vals := map[string]any{"log": []any{"put on damage", m}, "marker": m}
		nv := map[string]string{"log": ver, "marker": ver}
		meta := Metadata{"step": 600 + marker, "marker": m}
		got, err := s.Put(ctx, cfg, Checkpoint{ChannelValues: vals, ChannelVersions: nv}, meta, nv)
		if !note(fmt.Sprintf("Put %s %s|%s parent %q", m, thread, ns, parent), err) {
			rd.failed = append(rd.failed, m)
			return
		}
		a := &wdmgAck{what: "Put " + m, cfg: got, parent: parent, put: true, values: vals, meta: meta}
		rd.acks = append(rd.acks, a)
		if rng.IntN(3) > 0 {
			wm := next()
			err := s.PutWrites(ctx, got, []Write{{Channel: "inbox", Value: wm}, {Channel: "out", Value: []any{wm, 2}}}, "task-"+wm, "p")
			if note(fmt.Sprintf("PutWrites %s on %s", wm, configName(got)), err) {
				a.writes = append(a.writes, wdmgWrite("task-"+wm, "p", 0, "inbox", wm), wdmgWrite("task-"+wm, "p", 1, "out", []any{wm, 2}))
			} else {
				rd.failed = append(rd.failed, wm)
			}
		}
	}
	pick := func() string { return threads[rng.IntN(len(threads))] }
	for range 1 + rng.IntN(3) {
		save(ctx, pick(), "")
	}
	save(ctx, fmt.Sprintf("new-save-%d", rng.IntN(3)), "")
	for range 1 + rng.IntN(2) {
		th := pick()
		ns := ""
		if strings.HasPrefix(th, "put-") {
			ns = []string{"", "sub", "sub:inner|deep"}[rng.IntN(3)]
		}
		put(th, ns)
	}
	put("new-put", "sub")
	// A fork from an older checkpoint of a thread of Saves.
	for range 3 {
		th := pick()
		ids := in.heads[th+"|"]
		if len(ids) < 2 {
			continue
		}
		parent := ids[rng.IntN(len(ids)-1)]
		save(WithWriteOptions(ctx, WriteOptions{Parent: parent}), th, parent)
		break
	}
	// Pending writes on checkpoints of the intact file.
	var names []string
	for n := range in.cfgs {
		names = append(names, n)
	}
	slices.Sort(names)
	for range rng.IntN(3) {
		n := names[rng.IntN(len(names))]
		wm := next()
		err := s.PutWrites(ctx, in.cfgs[n], []Write{{Channel: "late", Value: wm}}, "task-"+wm, "")
		if note(fmt.Sprintf("PutWrites %s on intact %s", wm, n), err) {
			rd.addWrites[n] = append(rd.addWrites[n], wdmgWrite("task-"+wm, "", 0, "late", wm))
		} else {
			rd.failed = append(rd.failed, wm)
			rd.failedOn[n] = true
		}
	}
	if rng.IntN(3) > 0 {
		rd.deleted = pick()
		note("DeleteThread "+rd.deleted, s.DeleteThread(ctx, rd.deleted))
	}
	if rng.IntN(2) == 0 {
		rd.keepLast = 2 + rng.IntN(4)
		_, err := s.GC(ctx, Policy{KeepLast: rd.keepLast})
		note(fmt.Sprintf("GC KeepLast %d", rd.keepLast), err)
	}
	if rng.IntN(4) == 0 {
		_, err := s.Compact(ctx, nil)
		note("Compact", err)
	}
	// One more Save after them all.
	th := pick()
	if th == rd.deleted {
		th = "new-save-9"
	}
	save(ctx, th, "")
}

// mayBeGone: checkpoint id of thread|ns may have been removed by the
// round's DeleteThread or GC (asked for, whether or not they returned an
// error), given the ids the round's acknowledged writes added.
func (rd *wdmgRound) mayBeGone(in wdmgIntact, c Config) bool {
	if c.ThreadID == rd.deleted {
		return true
	}
	if rd.keepLast == 0 {
		return false
	}
	ids := slices.Clone(in.heads[c.ThreadID+"|"+c.CheckpointNS])
	for _, a := range rd.acks {
		if a.cfg.ThreadID == c.ThreadID && a.cfg.CheckpointNS == c.CheckpointNS {
			ids = append(ids, a.cfg.CheckpointID)
		}
	}
	slices.Sort(ids)
	i := slices.Index(ids, c.CheckpointID)
	return i >= 0 && i < len(ids)-rd.keepLast
}

// wdmgCheck reads the reopened store s and returns what is wrong.
func wdmgCheck(ctx context.Context, s *Store, in wdmgIntact, cfgs []Config, rd *wdmgRound) []string {
	var wrong []string
	sawErr := false
	var errs []string
	isFailed := func(v string) string {
		for _, m := range rd.failed {
			if strings.Contains(v, `"`+m+`"`) {
				return m
			}
		}
		return ""
	}
	// 1: the acknowledged writes.
	acked := map[string]*wdmgAck{}
	for _, a := range rd.acks {
		acked[configName(a.cfg)] = a
		gone := rd.mayBeGone(in, a.cfg)
		var got, want string
		var err error
		if a.put {
			var tp *Tuple
			if tp, err = s.GetTuple(ctx, a.cfg); err == nil {
				parent := ""
				if tp.ParentConfig != nil {
					parent = tp.ParentConfig.CheckpointID
				}
				vals := map[string]any{}
				for ch, raw := range tp.Checkpoint.ChannelValues {
					r, _ := raw.(Raw)
					vals[ch], _ = r.Value()
				}
				var ws []string
				for _, w := range tp.PendingWrites {
					v, _ := w.Value.Value()
					ws = append(ws, wdmgWrite(w.TaskID, w.TaskPath, w.Idx, w.Channel, v))
				}
				meta := Metadata{}
				for k := range a.meta {
					meta[k] = tp.Metadata[k]
				}
				got = jsonOf([]any{configName(tp.Config), tp.Checkpoint.ID, parent, vals, meta, ws})
			}
			want = jsonOf([]any{configName(a.cfg), a.cfg.CheckpointID, a.parent, a.values, a.meta, a.writes})
		} else {
			var sn *Snapshot
			if sn, err = s.Load(ctx, a.cfg.ThreadID, a.cfg.CheckpointID); err == nil {
				vals := map[string]any{}
				for ch, raw := range sn.State {
					vals[ch], _ = raw.Value()
				}
				meta := Metadata{}
				for k := range a.meta {
					meta[k] = sn.Metadata[k]
				}
				parent := a.parent
				if parent != "" {
					parent = sn.ParentID
				}
				got = jsonOf([]any{sn.ThreadID, sn.CheckpointID, parent, vals, meta})
			}
			want = jsonOf([]any{a.cfg.ThreadID, a.cfg.CheckpointID, a.parent, a.values, a.meta})
		}
		switch {
		case err == nil && got != want:
			wrong = append(wrong, fmt.Sprintf("acknowledged %s reads wrong: %s", a.what, valueDiff(got, want, true)))
		case errors.Is(err, ErrNotFound) && gone:
		case errors.Is(err, ErrNotFound):
			wrong = append(wrong, fmt.Sprintf("acknowledged %s (%s) is not found: %v", a.what, configName(a.cfg), err))
		case err != nil && !errors.Is(err, ErrCorrupt):
			wrong = append(wrong, fmt.Sprintf("acknowledged %s (%s): %v, not ErrCorrupt", a.what, configName(a.cfg), err))
		case err != nil:
			sawErr = true
			errs = append(errs, fmt.Sprintf("%s: %v", a.what, err))
		}
	}
	// 2: the intact file's checkpoints, by id.
	wantOf := func(n string) (string, bool) {
		w := in.tuples[n]
		add := rd.addWrites[n]
		if len(add) == 0 {
			return w, true
		}
		var parts []json.RawMessage
		if json.Unmarshal([]byte(w), &parts) != nil || len(parts) != 9 {
			return "", false
		}
		var ws []json.RawMessage
		_ = json.Unmarshal(parts[8], &ws)
		for _, a := range add {
			ws = append(ws, json.RawMessage(a))
		}
		parts[8], _ = json.Marshal(ws)
		return jsonOf(parts), true
	}
	sameWrites := func(got, want string) bool {
		// Pending writes compared as sets (their order is the store's).
		var g, w []json.RawMessage
		if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil || len(g) != 9 || len(w) != 9 {
			return got == want
		}
		for i := range 8 {
			if string(g[i]) != string(w[i]) {
				return false
			}
		}
		var gw, ww []string
		var graw, wraw []json.RawMessage
		_ = json.Unmarshal(g[8], &graw)
		_ = json.Unmarshal(w[8], &wraw)
		for _, x := range graw {
			gw = append(gw, string(x))
		}
		for _, x := range wraw {
			ww = append(ww, string(x))
		}
		slices.Sort(gw)
		slices.Sort(ww)
		return slices.Equal(gw, ww)
	}
	var intactNames []string
	for n := range in.cfgs {
		intactNames = append(intactNames, n)
	}
	slices.Sort(intactNames)
	for _, n := range intactNames {
		c := in.cfgs[n]
		gone := rd.mayBeGone(in, c)
		tp, err := s.GetTuple(ctx, c)
		if err != nil {
			if gone && errors.Is(err, ErrNotFound) {
				continue
			}
			sawErr = true
			errs = append(errs, fmt.Sprintf("intact %s: %v", n, err))
			continue
		}
		got, ok := tupleValue(tp)
		if !ok {
			sawErr = true
			errs = append(errs, fmt.Sprintf("intact %s: a value does not decode", n))
			continue
		}
		if m := isFailed(got); m != "" {
			wrong = append(wrong, fmt.Sprintf("intact %s shows %s, of a write that failed", n, m))
			continue
		}
		want, _ := wantOf(n)
		if rd.failedOn[n] && got == in.tuples[n] {
			continue
		}
		if !sameWrites(got, want) {
			wrong = append(wrong, fmt.Sprintf("intact %s reads wrong: %s", n, valueDiff(got, want, true)))
		}
	}
	// 2 and 3: every checkpoint any read returns.
	vals := readValues(ctx, s, cfgs)
	for n, got := range vals.tuples {
		if m := isFailed(got); m != "" {
			wrong = append(wrong, fmt.Sprintf("a read returned %s with %s, of a write that failed", n, m))
			continue
		}
		if _, ok := in.tuples[n]; ok {
			want, _ := wantOf(n)
			if !sameWrites(got, want) && !(rd.failedOn[n] && got == in.tuples[n]) {
				wrong = append(wrong, fmt.Sprintf("a read returned intact %s wrong: %s", n, valueDiff(got, want, true)))
			}
			continue
		}
		if _, ok := acked[n]; ok {
			continue // (checked by id above)
		}
		wrong = append(wrong, fmt.Sprintf("a read returned %s, neither in the intact file nor written: %.300q", n, got))
	}
	for n, got := range vals.snaps {
		if m := isFailed(got); m != "" {
			wrong = append(wrong, fmt.Sprintf("a read returned snapshot %s with %s, of a write that failed", n, m))
		}
	}
	// 4: Verify sees what the reads saw.
	if sawErr {
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err == nil && rep.OK() {
			wrong = append(wrong, fmt.Sprintf("Verify finds nothing wrong, and reads failed:\n  %s", strings.Join(errs[:min(len(errs), 8)], "\n  ")))
		}
	}
	return wrong
}

// wdmgFixture is hangFixture's store, kept in CKPT_HUNT_FIXTURES=D when
// set (read from D when it holds it, else written there), so that a
// damaged file kept runs again against the intact file it was made from.
func wdmgFixture(t *testing.T, dir string) (string, []Config) {
	keep := os.Getenv("CKPT_HUNT_FIXTURES")
	if keep != "" {
		data, err := os.ReadFile(filepath.Join(keep, "wdmg.db"))
		js, jerr := os.ReadFile(filepath.Join(keep, "wdmg.json"))
		if err == nil && jerr == nil {
			var cfgs []Config
			if err := json.Unmarshal(js, &cfgs); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "hang.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return path, cfgs
		}
	}
	path, cfgs := hangFixture(t, dir)
	if keep != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(cfgs)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(keep, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keep, "wdmg.db"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keep, "wdmg.json"), js, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path, cfgs
}

func TestHuntWritesOnDamagedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, cfgs := wdmgFixture(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-intact", data, 0o600); err != nil {
		t.Fatal(err)
	}
	in := wdmgReadIntact(t, path+"-intact")
	rounds, seed := huntRoundsFromEnv(24, 12, 31500)
	var threads []string
	for _, c := range in.cfgs {
		if !slices.Contains(threads, c.ThreadID) {
			threads = append(threads, c.ThreadID)
		}
	}
	slices.Sort(threads)
	pages := threadPages(t, path)
	fix := hangFix{name: "store", data: data, cfgs: cfgs, damage: func(rng *rand.Rand, b []byte) string { return wdmgDamage(rng, b, pages, threads) }}
	op := hangOp{"writes, then reads", func(ctx context.Context, p string, cfgs []Config) error {
		mode := huntModeOf(ctx)
		rng := rand.New(rand.NewPCG(mode.seed, 31))
		rd := &wdmgRound{addWrites: map[string][]string{}, failedOn: map[string]bool{}}
		if err := withHangStore(ctx, p, false, func(s *Store) error {
			wdmgWrites(ctx, rng, s, in, threads, rd)
			return nil
		}); err != nil {
			rd.log = append(rd.log, fmt.Sprintf("open or close: %v", err))
		}
		var wrong []string
		ro := rng.IntN(2) == 0
		err := withHangStore(ctx, p, ro, func(s *Store) error {
			wrong = wdmgCheck(ctx, s, in, cfgs, rd)
			return nil
		})
		if len(wrong) > 0 {
			return &huntWrong{append(wrong, fmt.Sprintf("(reopened read-only %v; the writes: %s)", ro, strings.Join(rd.log, "; ")))}
		}
		if os.Getenv("CKPT_HUNT_VERBOSE") != "" {
			return fmt.Errorf("writes: %s; reopen: %v", strings.Join(rd.log, "; "), err)
		}
		return err
	}}
	huntDamagedRounds(t, dir, rounds, seed, func(int) hangFix { return fix }, func(hangFix) []hangOp { return []hangOp{op} })
}
