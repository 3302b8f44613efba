package ckpt_test

// Issue 14, held-out spec: "A decode into the wrong Go type is its own
// error (naming the channel, the stored kind and the target type), not
// ErrCorrupt", for values stored whole and as list segments, on an
// encrypted store, in a namespace, through Tuple.Decode, a Reader,
// Snapshot.Decode, and for pending writes' values.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

type spec14Profile struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func TestSpec14DecodeIntoTheWrongTypeIsErrDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := ckpt.Key{ID: 4, Secret: sha256.Sum256([]byte("decode"))}
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			opts := ckpt.Options{Durability: ckpt.NoSync}
			if enc {
				opts.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{key}}
			}
			s, err := ckpt.Open(filepath.Join(t.TempDir(), "d.db"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A list grown over steps (delta segments), a map, a time, a bool.
			cfg := ckpt.Config{ThreadID: "decode", CheckpointNS: "sub:graph"}
			var msgs []any
			for i := range 12 {
				msgs = append(msgs, fmt.Sprintf("m%d", i))
				v := fmt.Sprint(i + 1)
				cfg, err = s.Put(ctx, cfg, ckpt.Checkpoint{
					ChannelValues: map[string]any{"messages": msgs, "profile": map[string]any{"name": "ada", "age": "old"},
						"when": time.Unix(1700000000, 0).UTC(), "done": true},
					ChannelVersions: map[string]string{"messages": v, "profile": "1", "when": "1", "done": "1"},
				}, nil, map[string]string{"messages": v, "profile": "1", "when": "1", "done": "1"})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "messages", Value: []any{"x", 1}}, {Channel: "count", Value: 7}}, "task", "p"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Compact(ctx, nil); err != nil {
				t.Fatal(err)
			}
			check := func(what, channel, kind, target string, err error) {
				t.Helper()
				if !errors.Is(err, ckpt.ErrDecode) || errors.Is(err, ckpt.ErrCorrupt) {
					t.Fatalf("%s: %v, want ErrDecode and not ErrCorrupt", what, err)
				}
				for _, part := range []string{channel, kind, target} {
					if part != "" && !strings.Contains(err.Error(), part) {
						t.Fatalf("%s: %q does not name %q", what, err, part)
					}
				}
			}
			for name, get := range map[string]func(context.Context, ckpt.Config) (*ckpt.Tuple, error){"GetTuple": s.GetTuple, "Reader": s.NewReader().GetTuple} {
				tp, err := get(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				var n int
				var str string
				var prof spec14Profile
				var m map[string]int
				var f float64
				check(name+" list into int", `"messages"`, "list", "int", tp.Decode("messages", &n))
				check(name+" list into map", `"messages"`, "list", "map[string]int", tp.Decode("messages", &m))
				check(name+" map into struct with a wrong field", `"profile"`, "map", "spec14Profile", tp.Decode("profile", &prof))
				check(name+" map into string", `"profile"`, "map", "string", tp.Decode("profile", &str))
				check(name+" bool into float", `"done"`, "bool", "float64", tp.Decode("done", &f))
				check(name+" time into int", `"when"`, "", "int", tp.Decode("when", &n))
				check(name+" into a non-pointer", `"messages"`, "", "not a pointer", tp.Decode("messages", n))
				// The right types still decode.
				var got []string
				if err := tp.Decode("messages", &got); err != nil || len(got) != 12 || got[11] != "m11" {
					t.Fatalf("%s: messages = %v, %v", name, got, err)
				}
				if len(tp.PendingWrites) != 2 {
					t.Fatalf("%s: %d pending writes", name, len(tp.PendingWrites))
				}
				for _, w := range tp.PendingWrites {
					var b bool
					err := w.Value.Decode(&b)
					kind := map[string]string{"messages": "list", "count": "integer"}[w.Channel]
					check(name+" pending write "+w.Channel+" into bool", "", kind, "bool", err)
				}
			}
			if cfg.CheckpointNS == "" {
				return
			}
			// The simple API's Snapshot on the root namespace.
			id, err := s.Save(ctx, "simple", map[string]any{"turns": []int{1, 2}, "title": "t"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := s.Load(ctx, "simple", id)
			if err != nil {
				t.Fatal(err)
			}
			var turns string
			check("Snapshot list into string", `"turns"`, "list", "string", snap.Decode("turns", &turns))
			var title []int
			check("Snapshot string into []int", `"title"`, "string", "[]int", snap.Decode("title", &title))
		})
	}
}
