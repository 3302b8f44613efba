package ckpt

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestListReadTouchesFewSegments: a list channel grown one item a step is
// read, at every step, in its keyframe (the first item) and at most K-1
// segments per level of folding (K deltas fold into one segment, K
// segments of one level into one of the next), and W1's 50-item list with
// the default K in at most 8. With
// one level (K deltas folded, the folded segments never merged again) a
// read walked n/K folded segments plus up to K-1 deltas: 19 segments for
// W1's R1 at K=32, 78 at n=300 for K=4.
func TestListReadTouchesFewSegments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  Options
		k     int
		steps int
	}{
		// The default K on W1's shape (bench/w1.go: 50 steps).
		{"default", Options{}, 8, 50},
		{"K=4", Options{DeltaFold: 4}, 4, 300},
		{"K=2", Options{DeltaFold: 2}, 2, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openTestStore(t, tc.opts)
			ctx := context.Background()
			var msgs []string
			parent := Config{ThreadID: "t"}
			var history []Config
			for step := range tc.steps {
				msgs = append(msgs, strings.Repeat("m", 20)+strconv.Itoa(step))
				v := strconv.Itoa(step + 1)
				c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"messages": msgs}, ChannelVersions: map[string]string{"messages": v}}, nil, map[string]string{"messages": v})
				if err != nil {
					t.Fatal(err)
				}
				parent = c
				history = append(history, c)
				n, got := len(msgs), segmentsOf(t, s, "t")
				if max := 1 + (tc.k-1)*levelsOf(tc.k, n-1); got > max {
					t.Fatalf("K=%d: %d items in %d segments, want at most %d", tc.k, n, got, max)
				}
				if tc.name == "default" && n == 50 && got > 8 {
					t.Fatalf("W1's 50 items in %d segments, want at most 8", got)
				}
			}
			// Every version still reads back whole, byte for byte.
			for i, c := range history {
				tp, err := s.GetTuple(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				if err := tp.Decode("messages", &got); err != nil || !reflect.DeepEqual(got, msgs[:i+1]) {
					t.Fatalf("step %d: messages differ (%v)", i, err)
				}
			}
		})
	}
}

// levelsOf returns the number of digits of n in base k: the levels of
// folding n one-item deltas make.
func levelsOf(k, n int) int {
	l := 0
	for ; n > 0; n /= k {
		l++
	}
	return l
}

// segmentsOf counts the list segments of thread (one lineage in the test).
func segmentsOf(t *testing.T, s *Store, thread string) int {
	n := 0
	err := s.view(context.Background(), func(r reader) error {
		return r.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
			n++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFoldPlan: which trailing segments fold, newest first.
func TestFoldPlan(t *testing.T) {
	delta := func(n int) segment { return segment{count: 1, items: make([]byte, n)} }
	folded := func(level, n int) segment {
		return segment{count: 1, folded: true, flags: foldedFlags(level), items: make([]byte, n)}
	}
	keyframe := segment{count: 1, folded: true, flags: foldedFlags(0), items: []byte{1}}
	rep := func(s segment, n int) []segment {
		out := make([]segment, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cat := func(parts ...[]segment) []segment {
		var out []segment
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		trail        []segment
		wantN, level int
	}{
		{"too few deltas", cat(rep(delta(10), 3), []segment{keyframe}), 0, 0},
		{"K deltas", cat(rep(delta(10), 4), []segment{keyframe}), 4, 1},
		{"K deltas, no keyframe", rep(delta(10), 4), 4, 1},
		{"more than K deltas (an older K)", cat(rep(delta(10), 9), rep(folded(1, 40), 2)), 9, 1},
		{"deltas holding foldBytes", cat(rep(delta(foldBytes/2), 2), []segment{keyframe}), 2, 1},
		{"K deltas and K-2 of level 1", cat(rep(delta(10), 4), rep(folded(1, 40), 2), []segment{keyframe}), 4, 1},
		{"a cascade", cat(rep(delta(10), 4), rep(folded(1, 40), 3), rep(folded(2, 160), 3), rep(folded(3, 640), 1)), 10, 3},
		{"a keyframe stops it", cat(rep(delta(10), 4), rep(folded(1, 40), 2), []segment{keyframe}, rep(folded(1, 40), 1)), 4, 1},
		{"no fold past maxFoldedBytes", cat(rep(delta(10), 4), rep(folded(1, maxFoldedBytes/3), 3)), 4, 1},
		{"K of level 1 past maxFoldedBytes", cat(rep(delta(10), 4), rep(folded(1, maxFoldedBytes/3), 4), rep(folded(2, 10), 2)), 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := foldPlan{k: 4}
			for _, seg := range tc.trail {
				if !p.add(seg) {
					break
				}
			}
			p.end()
			if p.n != tc.wantN || tc.wantN > 0 && p.level != tc.level {
				t.Fatalf("fold %d segments into level %d, want %d into %d", p.n, p.level, tc.wantN, tc.level)
			}
		})
	}
}
