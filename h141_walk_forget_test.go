package ckpt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/oklog/ulid/v2"
)

// A walk over every thread forgets, after each callback, the buckets the
// callback opened once its read's cache is past a bound (16 MB;
// internal/engine forgetWalked), and its reads then find those buckets
// again by path. With the bound forced to a byte (every outermost
// callback forgets) every read of a store answers as with the default:
// many threads in namespaces, forks (lineages of list deltas), pending
// writes, sealed values, with groups held in the overlay and once they
// are applied, and after writes whose own reads walk (CopyThread, GC).
func TestReadsWithEveryWalkForgettingAnswerAsWithout(t *testing.T) {
	t.Parallel()
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			t.Parallel()
			want := walkStoreAnswers(t, sealed, 0)
			got := walkStoreAnswers(t, sealed, 1)
			for phase := range want {
				if got[phase] != want[phase] {
					t.Errorf("%s: with every walk forgetting the reads answer\n%s\nwant (the default bound)\n%s", phase, firstDiff(got[phase], want[phase]), firstDiff(want[phase], got[phase]))
				}
			}
		})
	}
}

// firstDiff returns a's lines from the first that b does not have.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return strings.Join(al[i:min(len(al), i+3)], "\n")
		}
	}
	return "(a prefix)"
}

// walkStoreAnswers builds the same store (the same ids and times) with the
// walks' bound set to walkBytes (0: the default), and returns what its
// reads answer, by phase.
func walkStoreAnswers(t *testing.T, sealed bool, walkBytes int) map[string]string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	opts := func(hold bool) Options {
		o := Options{Durability: NoSync, tuning: &tuning{hooks: engine.Hooks{HoldApplier: hold, WalkBytes: walkBytes}}}
		if sealed {
			o.Encryption = &Encryption{Keys: []Key{testKey(1, 9)}}
		}
		return o
	}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	next := func() (string, time.Time) {
		clock = clock.Add(time.Millisecond)
		var id ulid.ULID
		if err := id.SetTime(ulid.Timestamp(clock)); err != nil {
			t.Fatal(err)
		}
		return id.String(), clock
	}
	heads := map[string]string{} // thread/ns -> newest id
	msgs := map[string][]string{}
	put := func(s *Store, thread, ns, parent string, step int) string {
		t.Helper()
		key := thread + "/" + ns
		id, ts := next()
		if parent == "" {
			parent = heads[key]
		} else {
			msgs[key] = msgs[key][:1] // a fork: the list starts again (a new lineage)
		}
		msgs[key] = append(msgs[key], fmt.Sprintf("%s says %d", thread, step))
		vals := map[string]any{"messages": msgs[key], "step": step}
		versions := map[string]string{"messages": fmt.Sprintf("%032d", 2*step+1), "step": fmt.Sprintf("%032d", 2*step+2)}
		newVersions := versions
		if step%3 == 2 {
			newVersions = map[string]string{"messages": versions["messages"]} // step kept from its parent
			versions["step"] = fmt.Sprintf("%032d", 2*(step-1)+2)
		}
		if (thread[len(thread)-1]-'0')%5 == 4 && step%2 == 0 {
			// No list channel: this tuple's read opens no segment bucket,
			// and its neighbours' do, so that a bucket a read opened
			// after the last forgetting sits where another did before.
			vals = map[string]any{"step": step}
			versions = map[string]string{"step": fmt.Sprintf("%032d", 2*step+2)}
			newVersions = versions
		}
		cp := Checkpoint{V: 4, ID: id, TS: ts, ChannelValues: vals, ChannelVersions: versions,
			VersionsSeen: map[string]map[string]string{"node": {"messages": versions["messages"]}}}
		meta := Metadata{"source": "loop", "step": step, "run_id": fmt.Sprintf("run-%d", step%4)}
		cfg, err := s.Put(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}, cp, meta, newVersions)
		if err != nil {
			t.Fatalf("put %s/%s step %d: %v", thread, ns, step, err)
		}
		heads[key] = cfg.CheckpointID
		if step%2 == 1 {
			for task := range 2 {
				if err := s.PutWrites(ctx, cfg, []Write{{"messages", fmt.Sprintf("w%d", task)}, {"step", step}},
					fmt.Sprintf("task-%d", task), fmt.Sprintf("~path|%d", task)); err != nil {
					t.Fatal(err)
				}
			}
		}
		return cfg.CheckpointID
	}
	const threads = 5
	thread := func(i int) string { return fmt.Sprintf("th-%03d", i) }
	write := func(s *Store, phase, steps int) {
		for i := range threads {
			for _, ns := range []string{"", "sub:1"} {
				if ns != "" && i%3 != 0 {
					continue
				}
				var first string
				for st := range steps {
					id := put(s, thread(i), ns, "", phase*10+st)
					if first == "" {
						first = id
					}
				}
				if i%4 == 1 { // a fork from an older checkpoint
					put(s, thread(i), ns, first, phase*10+steps)
				}
			}
		}
	}

	// Phase 1, applied to bbolt at Close.
	s, err := Open(path, opts(false))
	if err != nil {
		t.Fatal(err)
	}
	write(s, 0, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Phase 2 stays in the overlay (the applier held).
	s, err = Open(path, opts(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(s, 1, 2)
	if err := s.CopyThread(ctx, thread(1), "copy-of-1", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThread(ctx, thread(2)); err != nil {
		t.Fatal(err)
	}
	all := make([]string, 0, threads+1)
	for i := range threads {
		all = append(all, thread(i))
	}
	all = append(all, "copy-of-1")

	answers := map[string]string{}
	answers["overlay"] = walkAnswers(t, s, all, heads, sealed)
	if _, err := s.GC(ctx, Policy{KeepLast: 3}); err != nil {
		t.Fatal(err)
	}
	answers["after GC"] = walkAnswers(t, s, all, heads, sealed)
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	answers["applied"] = walkAnswers(t, s, all, heads, sealed)
	return answers
}

// walkAnswers returns what s's reads answer: every thread's tuples
// (GetTuple, List in every shape), Stats, Verify, Export, a GC dry run
// and RecentThreads, one per line. A sealed store's dump is told by its
// summary alone: its sealed records differ from store to store (each
// seal's nonce is random).
func walkAnswers(t *testing.T, s *Store, threads []string, heads map[string]string, sealed bool) string {
	t.Helper()
	ctx := context.Background()
	var out strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	tuple := func(tp *Tuple) string {
		var parent Config
		if tp.ParentConfig != nil {
			parent = *tp.ParentConfig
		}
		return fmt.Sprintf("%+v %+v %v parent=%+v writes=%+v", tp.Config, tp.Checkpoint, tp.Metadata, parent, tp.PendingWrites)
	}
	list := func(name string, o ListOptions) {
		n := 0
		for tp, err := range s.List(ctx, o) {
			if err != nil {
				line("%s: error %v", name, err)
				break
			}
			line("%s: %s", name, tuple(tp))
			n++
		}
		line("%s: %d tuples", name, n)
	}
	for _, th := range threads {
		for _, ns := range []string{"", "sub:1"} {
			tp, err := s.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: ns})
			if err != nil {
				line("get %s/%s: error %v", th, ns, err)
			} else {
				line("get %s/%s: %s", th, ns, tuple(tp))
			}
			if id := heads[th+"/"+ns]; id != "" {
				if tp, err := s.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: id}); err == nil {
					line("get %s/%s/%s: %s", th, ns, id, tuple(tp))
				} else {
					line("get %s/%s/%s: error %v", th, ns, id, err)
				}
			}
		}
		list("list "+th, ListOptions{ThreadID: th})
		list("list root "+th, ListOptions{ThreadID: th, Namespace: NS("")})
	}
	list("list all", ListOptions{})
	list("list all limit", ListOptions{Limit: 7})
	list("list all sub", ListOptions{Namespace: NS("sub:1")})
	list("list all filtered", ListOptions{Filter: map[string]any{"run_id": "run-1"}})
	list("list all before", ListOptions{Before: heads[threads[5]+"/"], Limit: 11})

	st, err := s.Stats(ctx)
	if err != nil {
		line("stats: error %v", err)
	} else {
		st.FileBytes, st.Buckets = 0, nil // the file's layout, not what it holds
		b, _ := json.Marshal(st)
		line("stats: %s", b)
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		line("verify: error %v", err)
	} else {
		b, _ := json.Marshal(rep)
		line("verify: %s", b)
	}
	var dump bytes.Buffer
	sum, err := s.Export(ctx, &dump, ExportOptions{})
	if sealed {
		dump.Reset()
	}
	line("export: %+v %v %x", sum, err, sha256.Sum256(dump.Bytes()))
	gc, err := s.GC(ctx, Policy{KeepLast: 1, DryRun: true})
	line("gc dry run: %+v %v", gc, err)
	for _, q := range []ThreadQuery{{}, {Prefix: "th-01", Limit: 4}, {Offset: 3, Limit: 5}} {
		page, err := s.RecentThreads(ctx, q)
		b, _ := json.Marshal(page)
		line("recent %+v: %s %v", q, b, err)
	}
	for info, err := range s.Threads(ctx) {
		line("thread: %+v %v", info, err)
	}
	return out.String()
}
