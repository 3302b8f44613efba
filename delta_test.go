package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"
)

// deltaModel drives a store with random list edits and checks every stored
// checkpoint against a plain map of what was put.
type deltaModel struct {
	t        *rapid.T
	path     string
	s        *Store
	foldK    int
	channels []string
	cur      map[string][]any  // current value of each list channel
	scalar   any               // a non-list channel that sometimes becomes a list
	versions map[string]int    // highest version used per channel
	headVer  map[string]string // versions of the head checkpoint
	head     Config
	history  []Config                  // every checkpoint, oldest first
	want     map[string]map[string]any // checkpoint id -> decoded values
	step     int
}

func (m *deltaModel) item() any {
	switch rapid.IntRange(0, 2).Draw(m.t, "kind") {
	case 0:
		return rapid.StringN(0, 40, -1).Draw(m.t, "text")
	case 1:
		return map[string]any{"role": rapid.SampledFrom([]string{"user", "assistant"}).Draw(m.t, "role"), "content": rapid.StringN(0, 60, -1).Draw(m.t, "content")}
	default:
		return int64(rapid.IntRange(-1000, 1000).Draw(m.t, "n"))
	}
}

// put stores the current state, changing the channels in changed, with
// parent as parent (a fork when it is not the head).
func (m *deltaModel) Put(parent Config, changed []string, values map[string]any, versions map[string]string) {
	m.step++
	newVersions := map[string]string{}
	for _, ch := range changed {
		m.versions[ch]++
		versions[ch] = strconv.Itoa(m.versions[ch])
		newVersions[ch] = versions[ch]
	}
	cfg, err := m.s.Put(context.Background(), parent, Checkpoint{ChannelValues: values, ChannelVersions: versions}, Metadata{"step": m.step}, newVersions)
	if err != nil {
		m.t.Fatalf("put: %v", err)
	}
	want := map[string]any{}
	for ch := range versions {
		want[ch] = normalize(roundTrip(m.t, values[ch]))
	}
	m.want[cfg.CheckpointID] = want
	m.history = append(m.history, cfg)
	m.head = cfg
	m.headVer = versions
}

func roundTrip(t *rapid.T, v any) any {
	raw, err := encodeValue("v", v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := raw.Value()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// state returns the values and versions of the head, for the next put.
func (m *deltaModel) state() (map[string]any, map[string]string) {
	values := map[string]any{"scalar": m.scalar}
	versions := map[string]string{}
	for c, v := range m.headVer {
		versions[c] = v
	}
	for _, ch := range m.channels {
		values[ch] = append([]any(nil), m.cur[ch]...)
	}
	return values, versions
}

func (m *deltaModel) change(ch string, next []any) {
	m.cur[ch] = next
	values, versions := m.state()
	m.Put(m.head, []string{ch}, values, versions)
}

func (m *deltaModel) check() {
	ctx := context.Background()
	for _, cfg := range m.history {
		tp, err := m.s.GetTuple(ctx, cfg)
		if err != nil {
			m.t.Fatalf("get %s: %v", cfg.CheckpointID, err)
		}
		got := map[string]any{}
		for ch, v := range tp.Checkpoint.ChannelValues {
			val, err := v.(Raw).Value()
			if err != nil {
				m.t.Fatalf("decode %s: %v", ch, err)
			}
			got[ch] = val
			// Byte for byte what a whole encoding gives.
			whole, _ := encodeValue(ch, val)
			if !bytes.Equal(whole, v.(Raw)) {
				m.t.Fatalf("checkpoint %s channel %s: rebuilt bytes differ from a whole encoding", cfg.CheckpointID, ch)
			}
		}
		if !reflect.DeepEqual(got, m.want[cfg.CheckpointID]) {
			m.t.Fatalf("checkpoint %s (step %v):\n got %v\nwant %v", cfg.CheckpointID, tp.Metadata["step"], got, m.want[cfg.CheckpointID])
		}
	}
	m.checkChains()
}

// checkChains verifies the K bound: no lineage has K or more trailing
// unfolded deltas.
func (m *deltaModel) checkChains() {
	err := m.s.view(context.Background(), func(r reader) error {
		r.Scan(bucketPath{bucketThreads, []byte("t"), bucketSegments}, nil, nil, false, func(k, v []byte) error {
			return nil
		})
		trailing := map[string]int{}
		r.Scan(bucketPath{bucketThreads, []byte("t"), bucketSegments}, nil, nil, false, func(k, v []byte) error {
			seg, err := decodeSegment(seedOf("t"), k, v)
			if err != nil {
				m.t.Fatalf("segment: %v", err)
			}
			lin := string(k[:len(k)-4])
			if seg.folded {
				trailing[lin] = 0
			} else {
				trailing[lin]++
			}
			if trailing[lin] >= m.foldK {
				m.t.Fatalf("a lineage has %d unfolded deltas, K = %d", trailing[lin], m.foldK)
			}
			return nil
		})
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *deltaModel) reopen() {
	if err := m.s.Close(); err != nil {
		m.t.Fatal(err)
	}
	s, err := Open(m.path, deltaModelOptions(m.foldK))
	if err != nil {
		m.t.Fatal(err)
	}
	m.s = s
}

// deltaModelOptions are the model's store options: no fsync, neither the
// log's (NoSync) nor bbolt's, because the properties are about values and
// versions, the model reopens only after a clean Close, and the fsyncs
// (about 3,500 in a run, 28 s of waiting on this VM under load) were
// much of the test's time; the kill tests (crash_test.go) own durability.
func deltaModelOptions(foldK int) Options {
	return Options{DeltaFold: foldK, Durability: NoSync, Bolt: &bolt.Options{NoSync: true, NoGrowSync: true}}
}

func TestDeltaProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "ckpt-delta-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		m := &deltaModel{
			t: rt, path: filepath.Join(dir, "d.db"), foldK: rapid.IntRange(2, 6).Draw(rt, "K"),
			channels: []string{"messages", "events"},
			cur:      map[string][]any{}, versions: map[string]int{}, want: map[string]map[string]any{},
			scalar: "s",
		}
		m.s, err = Open(m.path, deltaModelOptions(m.foldK))
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { m.s.Close() }()
		values, versions := m.state()
		m.Put(Config{ThreadID: "t"}, append([]string{"scalar"}, m.channels...), values, versions)

		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for range steps {
			ch := rapid.SampledFrom(m.channels).Draw(rt, "channel")
			cur := m.cur[ch]
			switch op := rapid.IntRange(0, 11).Draw(rt, "op"); {
			case op <= 4: // append 0..3 items
				next := append([]any(nil), cur...)
				for range rapid.IntRange(0, 3).Draw(rt, "n") {
					next = append(next, m.item())
				}
				m.change(ch, next)
			case op == 5 && len(cur) > 0: // edit in the middle
				next := append([]any(nil), cur...)
				next[rapid.IntRange(0, len(cur)-1).Draw(rt, "at")] = m.item()
				m.change(ch, next)
			case op == 6 && len(cur) > 0: // truncate
				m.change(ch, append([]any(nil), cur[:rapid.IntRange(0, len(cur)-1).Draw(rt, "len")]...))
			case op == 7: // the scalar channel becomes a list or a scalar
				if rapid.Bool().Draw(rt, "list") {
					m.scalar = []any{m.item()}
				} else {
					m.scalar = m.item()
				}
				values, versions := m.state()
				m.Put(m.head, []string{"scalar"}, values, versions)
			case op == 8 && len(m.history) > 1: // fork from an older checkpoint and append
				old := m.history[rapid.IntRange(0, len(m.history)-2).Draw(rt, "fork")]
				tp, err := m.s.GetTuple(context.Background(), old)
				if err != nil {
					rt.Fatal(err)
				}
				var list []any
				if err := tp.Decode(ch, &list); err != nil {
					rt.Fatal(err)
				}
				values := map[string]any{}
				for c, v := range tp.Checkpoint.ChannelValues {
					values[c] = v
				}
				values[ch] = append(list, m.item())
				versions := map[string]string{}
				for c, v := range tp.Checkpoint.ChannelVersions {
					versions[c] = v
				}
				m.Put(old, []string{ch}, values, versions)
				// The fork is the new head: rebuild the model's current state from it.
				for _, c := range m.channels {
					var l []any
					if raw, ok := values[c].(Raw); ok {
						_ = raw.Decode(&l)
					} else {
						l = values[c].([]any)
					}
					m.cur[c] = l
				}
				if raw, ok := values["scalar"].(Raw); ok {
					m.scalar, _ = raw.Value()
				}
			case op == 9:
				m.reopen()
			case op == 10: // retention: keep the newest n checkpoints
				n := rapid.IntRange(1, 5).Draw(rt, "keep")
				if _, err := m.s.GC(context.Background(), Policy{KeepLast: n}); err != nil {
					rt.Fatal(err)
				}
				if len(m.history) > n {
					for _, gone := range m.history[:len(m.history)-n] {
						delete(m.want, gone.CheckpointID)
					}
					m.history = append([]Config(nil), m.history[len(m.history)-n:]...)
				}
				if err := CheckInvariants(m.s); err != nil {
					rt.Fatalf("after GC: %v", err)
				}
			case op == 11:
				if _, err := m.s.Compact(context.Background(), nil); err != nil {
					rt.Fatal(err)
				}
			}
			m.check()
		}
		m.reopen()
		m.check()
	})
}

func TestDeltaStorageIsLinear(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{})
	ctx := context.Background()
	msg := strings.Repeat("m", 200)
	var msgs []string
	parent := Config{ThreadID: "long"}
	sizeAt := map[int]int{}
	for step := range 400 {
		msgs = append(msgs, msg+strconv.Itoa(step))
		v := strconv.Itoa(step + 1)
		c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"messages": msgs}, ChannelVersions: map[string]string{"messages": v}}, nil, map[string]string{"messages": v})
		if err != nil {
			t.Fatal(err)
		}
		parent = c
		if step == 99 || step == 399 {
			sizeAt[step] = storedValueBytes(t, s, "long")
		}
	}
	// Whole copies would store 1+2+...+400 messages (~16 MB); deltas store
	// each message about twice at most (once as a delta, once folded).
	per100 := float64(sizeAt[99]) / 100
	per400 := float64(sizeAt[399]) / 400
	if per400 > 3*per100 || sizeAt[399] > 400*len(msg)*3 {
		t.Fatalf("stored bytes: %d after 100 steps, %d after 400", sizeAt[99], sizeAt[399])
	}
	var got []string
	tp, err := s.GetTuple(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Decode("messages", &got); err != nil || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("latest messages differ (%v)", err)
	}
}

// storedValueBytes sums the bytes of blobs and list segments of a thread.
func storedValueBytes(t *testing.T, s *Store, thread string) int {
	n := 0
	err := s.view(context.Background(), func(r reader) error {
		for _, b := range [][]byte{bucketBlobs, bucketSegments} {
			r.Scan(threadPath(thread, b), nil, nil, false, func(k, v []byte) error {
				n += len(k) + len(v)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFormatOneFileIsReadAndUpgraded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Put(context.Background(), Config{ThreadID: "t"}, Checkpoint{ChannelValues: map[string]any{"a": "x"}, ChannelVersions: map[string]string{"a": "1"}}, nil, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Rewrite as format 1 wrote it: marker 1, a whole value blob.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := encodeValue("l", []string{"a", "b"})
	if err := db.Update(func(tx *bolt.Tx) error {
		// A file of format 1 has no sum of its marker.
		if err := tx.Bucket(bucketMeta).Delete(keyFormatSum); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(keyFormat, []byte{0, 0, 0, 1}); err != nil {
			return err
		}
		return tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketBlobs).Put(blobKey("", "a", "1"), encodeBlob(seedOf("t"), blobKey("", "a", "1"), list, false))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tp, err := s.GetTuple(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := tp.Decode("a", &got); err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("format 1 value: %v %v", got, err)
	}
	// Appending to a whole-stored list works (it starts a lineage).
	c2, err := s.Put(context.Background(), cfg, Checkpoint{ChannelValues: map[string]any{"a": []string{"a", "b", "c"}}, ChannelVersions: map[string]string{"a": "2"}}, nil, map[string]string{"a": "2"})
	if err != nil {
		t.Fatal(err)
	}
	tp, _ = s.GetTuple(context.Background(), c2)
	if err := tp.Decode("a", &got); err != nil || len(got) != 3 {
		t.Fatalf("after append: %v %v", got, err)
	}
	if err := s.view(context.Background(), func(r reader) error {
		if v := r.Get(bucketPath{bucketMeta}, keyFormat); !bytes.Equal(v, encodeFormat()) {
			return fmt.Errorf("marker %v not upgraded", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSweepLineagesKeepsOnlyReferencedOnes(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{DeltaFold: 4})
	ctx := context.Background()
	parent := Config{ThreadID: "t"}
	var list []string
	var cfgs []Config
	for i := range 10 {
		list = append(list, strings.Repeat("x", 10)+strconv.Itoa(i))
		if i == 5 {
			list[0] = "edited" // a new lineage from here on
		}
		v := strconv.Itoa(i + 1)
		c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"l": list}, ChannelVersions: map[string]string{"l": v}}, nil, map[string]string{"l": v})
		if err != nil {
			t.Fatal(err)
		}
		parent, cfgs = c, append(cfgs, c)
	}
	before := storedValueBytes(t, s, "t")
	// Drop the blobs of versions 1..5 (the first lineage), as retention would.
	if err := s.write(ctx, func(w writer) error {
		for v := 1; v <= 5; v++ {
			if err := w.Del(threadPath("t", bucketBlobs), blobKey("", "l", strconv.Itoa(v))); err != nil {
				return err
			}
		}
		n, freed, done, err := sweepLineages(w, "t", gcTxKeys)
		if err != nil {
			return err
		}
		if n == 0 || freed == 0 || !done {
			return fmt.Errorf("swept %d segments, %d bytes (done %v)", n, freed, done)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if after := storedValueBytes(t, s, "t"); after >= before {
		t.Fatalf("nothing freed: %d -> %d", before, after)
	}
	for _, c := range cfgs[5:] {
		tp, err := s.GetTuple(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := tp.Decode("l", &got); err != nil || got[0] != "edited" {
			t.Fatalf("kept version lost its items: %v %v", got, err)
		}
	}
	// A second sweep finds nothing more.
	if err := s.write(ctx, func(w writer) error {
		n, _, _, err := sweepLineages(w, "t", gcTxKeys)
		if n != 0 {
			return fmt.Errorf("second sweep deleted %d", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
