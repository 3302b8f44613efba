package ckpt_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Values past bbolt's page and past the sizes the store's own bounds name
// (16 MiB, a fold's 1 MiB): a whole value, a list channel whose items are
// each larger than a fold may merge, and a pending write, through Sync and
// Async writes, a reopen, Compact and Export+Import: each reads back exact.
func TestHugeValuesReadBackExact(t *testing.T) {
	t.Parallel()
	if testing.Short() || raceEnabled {
		// About 150 MB written; under the race detector 85 s and 2.3 GB
		// of memory on the project's VM: it checks sizes, not races.
		t.Skip("writes about 150 MB")
	}
	for _, mode := range []ckpt.Durability{ckpt.Sync, ckpt.Async} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "huge.db")
			s, err := ckpt.Open(path, ckpt.Options{Durability: mode})
			if err != nil {
				t.Fatal(err)
			}
			big := strings.Repeat("0123456789abcdef", (16<<20)/16+1)                                  // 16 MiB + 16
			item := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("x", 3<<19) } // 1.5 MiB
			var items []any
			parent := ckpt.Config{ThreadID: "t"}
			var cfgs []ckpt.Config
			for step := range 3 {
				items = append(items, item(step))
				v := fmt.Sprint(step + 1)
				cp := ckpt.Checkpoint{ChannelValues: map[string]any{"big": big + v, "list": items}, ChannelVersions: map[string]string{"big": v, "list": v}}
				cfg, err := s.PutFull(ctx, parent, cp, ckpt.Metadata{"step": step}, map[string]string{"big": v, "list": v},
					[]ckpt.TaskWrites{{TaskID: "task", Writes: []ckpt.Write{{Channel: "big", Value: big + "w" + v}}}})
				if err != nil {
					t.Fatal(err)
				}
				parent = cfg
				cfgs = append(cfgs, cfg)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			check := func(s *ckpt.Store, where string) {
				t.Helper()
				for step, cfg := range cfgs {
					tp, err := s.GetTuple(ctx, cfg)
					if err != nil {
						t.Fatalf("%s: step %d: %v", where, step, err)
					}
					v := fmt.Sprint(step + 1)
					var b string
					var l []string
					if err := tp.Decode("big", &b); err != nil || b != big+v {
						t.Fatalf("%s: step %d: big value of %d bytes (%v)", where, step, len(b), err)
					}
					if err := tp.Decode("list", &l); err != nil || len(l) != step+1 {
						t.Fatalf("%s: step %d: list of %d items (%v)", where, step, len(l), err)
					}
					for i := range l {
						if l[i] != item(i) {
							t.Fatalf("%s: step %d: item %d differs", where, step, i)
						}
					}
					var w string
					if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].Value.Decode(&w) != nil || w != big+"w"+v {
						t.Fatalf("%s: step %d: pending write lost or wrong", where, step)
					}
				}
				rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
				if err != nil || !rep.OK() {
					t.Fatalf("%s: Verify: %v %v", where, err, rep.Problems)
				}
			}
			check(s, "written")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = ckpt.Open(path, ckpt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			check(s, "reopened")
			if _, err := s.Compact(ctx, nil); err != nil {
				t.Fatal(err)
			}
			check(s, "compacted")
			var dump bytes.Buffer
			if _, err := s.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := ckpt.Open(filepath.Join(dir, "imported.db"), ckpt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if _, err := s2.Import(ctx, &dump, ckpt.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			check(s2, "imported")
		})
	}
}
