package redisstore

// h117-hunt: a key of the wrong Redis type (someone SET a string over a
// thread's hash or sorted set with redis-cli) made the writing scripts stop
// half-way: Redis raises WRONGTYPE at the first command on that key and
// does not roll back what the script wrote before it. A put stored its
// checkpoint without metadata, history or index entries; a prune deleted
// checkpoint values and left their index entries; a copy made the
// destination without its index entries. Every writing call must fail with
// ckpt.ErrCorrupt and leave Redis as it was.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// dumpPrefix returns DUMP of every key under the store's prefix except the
// reply memos and recent puts (bookkeeping, not thread data).
func dumpPrefix(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	keys, err := s.Client().Keys(bg, s.keys.prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "}:reply") || strings.HasSuffix(k, "}:puts") {
			continue
		}
		d, err := s.Client().Dump(bg, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = d
	}
	return out
}

func TestH117WrongTypeKeyWritesNothing(t *testing.T) {
	srv := sharedServer(t)
	type op struct {
		name string
		do   func(ctx context.Context, s *Store, c []ckpt.Config) error
	}
	cp := ckpt.Checkpoint{ChannelValues: map[string]any{"count": 9}, ChannelVersions: map[string]string{"count": "9", "const": "1"}}
	put := func(keep int, cas bool) func(ctx context.Context, s *Store, c []ckpt.Config) error {
		return func(ctx context.Context, s *Store, c []ckpt.Config) error {
			s2, err := New(ctx, Options{Addr: s.Client().Options().Addr, Prefix: s.keys.prefix, KeepLast: keep})
			if err != nil {
				return err
			}
			defer s2.Close()
			if cas {
				ctx = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
			}
			_, err = s2.PutFull(ctx, c[2], cp, ckpt.Metadata{"step": 9}, map[string]string{"count": "9"},
				[]ckpt.TaskWrites{{TaskID: "t9", Writes: []ckpt.Write{{Channel: "w", Value: 9}}}})
			return err
		}
	}
	ops := []op{
		{"PutFull", put(0, false)},
		{"PutFull IfHead", put(0, true)},
		{"PutFull KeepLast", put(2, false)},
		{"PutWrites", func(ctx context.Context, s *Store, c []ckpt.Config) error {
			return s.PutWrites(ctx, c[1], []ckpt.Write{{Channel: "w2", Value: 1}}, "t8", "")
		}},
		{"Prune", func(ctx context.Context, s *Store, c []ckpt.Config) error {
			return s.Prune(ctx, []string{"x"}, ckpt.PruneKeepLatest)
		}},
		{"KeepLast", func(ctx context.Context, s *Store, c []ckpt.Config) error {
			_, err := s.KeepLast(ctx, []string{"x"}, 2)
			return err
		}},
		{"DeleteForRuns", func(ctx context.Context, s *Store, c []ckpt.Config) error {
			return s.DeleteForRuns(ctx, []string{"r1"})
		}},
		{"CopyThread", func(ctx context.Context, s *Store, c []ckpt.Config) error {
			return s.CopyThread(ctx, "x", "z", ckpt.CopyOptions{})
		}},
	}
	damaged := append(kindNames[:], "idx", "puts")
	for _, kind := range damaged {
		for _, o := range ops {
			s := newTestStore(t, srv, Options{})
			var cfgs []ckpt.Config
			c := ckpt.Config{ThreadID: "x"}
			for n := 1; n <= 3; n++ {
				c = step(t, s, c, n)
				if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: n}}, "t", ""); err != nil {
					t.Fatal(err)
				}
				cfgs = append(cfgs, c)
			}
			md, err := encodeMetadata(ckpt.Metadata{"step": 2, "run_id": "r1"})
			if err != nil {
				t.Fatal(err)
			}
			s.Client().HSet(bg, s.keys.thread("x")[kMD], cpField("", cfgs[1].CheckpointID), md)
			key := s.keys.index()
			if kind == "puts" {
				key = s.keys.recentPuts("x")
			} else if kind != "idx" {
				for k, name := range kindNames {
					if name == kind {
						key = s.keys.thread("x")[k]
					}
				}
			}
			s.Client().Del(bg, key)
			s.Client().Set(bg, key, "not the store's", 0)
			before := dumpPrefix(t, s)
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			err = o.do(ctx, s, cfgs)
			cancel()
			after := dumpPrefix(t, s)
			var changed []string
			for k, v := range after {
				if before[k] != v {
					changed = append(changed, strings.TrimPrefix(k, s.keys.prefix))
				}
			}
			for k := range before {
				if _, ok := after[k]; !ok {
					changed = append(changed, strings.TrimPrefix(k, s.keys.prefix)+" (gone)")
				}
			}
			what := fmt.Sprintf("%s over a %s key of the wrong type", o.name, kind)
			if err == nil {
				continue // the call did not need the key (it wrote what it had to)
			}
			if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", what, err)
			}
			if len(changed) > 0 {
				t.Errorf("%s failed (%v) but changed %q", what, err, changed)
			}
		}
	}
}
