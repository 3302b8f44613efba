package ckpt_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A Reader reads what GetTuple reads, tuple by tuple, whatever the order
// (the block grows for a longer tuple and is reused for a shorter one),
// and a caller overwriting every byte of what it got before reading again
// changes neither the next tuple nor what GetTuple reads.
func TestReaderReadsWhatGetTupleReads(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		opts ckpt.Options
	}{{"log", ckpt.Options{Durability: ckpt.NoSync}}, {"nowal", ckpt.Options{NoWAL: true, Durability: ckpt.NoSync, DeltaFold: 2}}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s, _ := openTemp(t, mode.opts)
			const threads, steps = 3, 12
			var cfgs []ckpt.Config
			for th := range threads {
				var msgs []string
				parent := ""
				for i := range steps {
					msgs = append(msgs, fmt.Sprintf("thread %d message %d %s", th, i, bytes.Repeat([]byte{'m'}, 30*(th+1))))
					ver := fmt.Sprint(i + 1)
					values := map[string]any{"messages": msgs, "turn": i}
					nv := map[string]string{"messages": ver, "turn": ver}
					if i == 0 {
						values["context"], nv["context"] = fmt.Sprint("context of ", th), "1"
					}
					var writes []ckpt.TaskWrites
					if i%3 != 0 {
						writes = []ckpt.TaskWrites{{TaskID: "task", Writes: []ckpt.Write{{Channel: "messages", Value: msgs[i]}, {Channel: "turn", Value: i}}}}
					}
					cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: fmt.Sprint("t", th), CheckpointID: parent},
						ckpt.Checkpoint{V: 4, ChannelValues: values, ChannelVersions: map[string]string{"messages": ver, "turn": ver, "context": "1"}},
						ckpt.Metadata{"step": i, "node": "n"}, nv, writes)
					if err != nil {
						t.Fatal(err)
					}
					cfgs = append(cfgs, cfg)
					parent = cfg.CheckpointID
				}
				cfgs = append(cfgs, ckpt.Config{ThreadID: fmt.Sprint("t", th)}) // latest
			}
			want := func(cfg ckpt.Config) *ckpt.Tuple {
				t.Helper()
				tp, err := s.GetTuple(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return tp
			}
			saved := map[ckpt.Config]*ckpt.Tuple{}
			for _, cfg := range cfgs {
				saved[cfg] = want(cfg)
			}
			r := s.NewReader()
			// Long and short tuples mixed: every cfg after every other one.
			var order []ckpt.Config
			for i := range cfgs {
				for j := range cfgs {
					if (i+j)%5 == 0 {
						order = append(order, cfgs[i], cfgs[j])
					}
				}
			}
			for n, cfg := range order {
				got, err := r.GetTuple(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if w := saved[cfg]; !reflect.DeepEqual(got, w) {
					t.Fatalf("read %d (%+v): Reader gave\n%+v\nGetTuple\n%+v", n, cfg, got, w)
				}
				for _, b := range tupleBytes(t, got) {
					for i := range b {
						b[i] ^= 0xff // the caller's until the next read
					}
				}
			}
			for _, cfg := range cfgs {
				if got, w := want(cfg), saved[cfg]; !maps.EqualFunc(tupleBytes(t, got), tupleBytes(t, w), bytes.Equal) {
					t.Fatalf("%+v: GetTuple after the Reader's reads gives %q, want %q", cfg, tupleBytes(t, got), tupleBytes(t, w))
				}
			}
			if _, err := r.GetTuple(ctx, ckpt.Config{ThreadID: "nobody"}); !errors.Is(err, ckpt.ErrNotFound) {
				t.Fatalf("Reader.GetTuple of an unknown thread: %v, want ErrNotFound", err)
			}
		})
	}
}

// The values and pending writes a Reader returns share its block, but each
// is a slice of its own: appending to one leaves the others as they were.
func TestReaderValuesDoNotAlias(t *testing.T) {
	t.Parallel()
	s, cfg := aliasStore(t)
	r := s.NewReader()
	for range 2 { // the second read reuses the block
		tp, err := r.GetTuple(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkNoAlias(t, tp)
	}
}
