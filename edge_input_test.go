package ckpt_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Names at the API's edges: NUL, '/', invalid UTF-8, a lone 0xff, the
// limits and one past them. Each is either refused before anything is
// written (ErrInvalidConfig) or stored and read back exact, through
// GetTuple, List, Export into Import into a new file, and a reopen.
func TestOddNamesRoundTripOrAreRefused(t *testing.T) {
	t.Parallel()
	odd := []string{"a\x00b", "\x00", "a/b", "/", "\xff", "\xc3\x28", "a\xffb\x00", "{\"b64\":\"AA==\"}", "\u2028", strings.Repeat("n", ckpt.MaxNameLen)}
	dir := t.TempDir()
	path := filepath.Join(dir, "odd.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		cfg ckpt.Config
		ch  string
		val string
	}
	var all []stored
	for i, name := range odd {
		for _, role := range []string{"thread", "ns", "channel", "version", "task"} {
			thread, ns, ch, ver, task := fmt.Sprint("t", i, role), "", "c", "v1", "task"
			switch role {
			case "thread":
				thread = name
			case "ns":
				ns = name
			case "channel":
				ch = name
			case "version":
				ver = name
			case "task":
				task = name
			}
			val := fmt.Sprintf("value %d %s", i, role)
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns},
				ckpt.Checkpoint{ChannelValues: map[string]any{ch: val}, ChannelVersions: map[string]string{ch: ver}},
				ckpt.Metadata{"role": role}, map[string]string{ch: ver})
			if err != nil {
				t.Fatalf("Put with %s %q: %v", role, name, err)
			}
			if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: ch, Value: val}}, task, name); err != nil {
				t.Fatalf("PutWrites with %s %q: %v", role, name, err)
			}
			all = append(all, stored{cfg, ch, val})
		}
	}
	// One past each limit: refused, nothing written.
	long := strings.Repeat("x", ckpt.MaxNameLen+1)
	for _, c := range []struct {
		what string
		cfg  ckpt.Config
		ch   string
		ver  string
	}{
		{"thread", ckpt.Config{ThreadID: strings.Repeat("x", ckpt.MaxThreadIDLen+1)}, "c", "1"},
		{"ns", ckpt.Config{ThreadID: "over", CheckpointNS: strings.Repeat("x", ckpt.MaxNamespaceLen+1)}, "c", "1"},
		{"channel", ckpt.Config{ThreadID: "over"}, long, "1"},
		{"version", ckpt.Config{ThreadID: "over"}, "c", long},
	} {
		_, err := s.Put(ctx, c.cfg, ckpt.Checkpoint{ChannelValues: map[string]any{c.ch: 1}, ChannelVersions: map[string]string{c.ch: c.ver}}, nil, map[string]string{c.ch: c.ver})
		if !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("Put with a %s one byte too long: %v, want ErrInvalidConfig", c.what, err)
		}
	}
	if err := s.PutWrites(ctx, all[0].cfg, []ckpt.Write{{Channel: "c", Value: 1}}, long, ""); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("PutWrites with a task id one byte too long: %v, want ErrInvalidConfig", err)
	}
	check := func(s *ckpt.Store, where string) {
		t.Helper()
		n := 0
		for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatalf("%s: List: %v", where, err)
			}
			n++
			_ = tp
		}
		if n != len(all) {
			t.Fatalf("%s: List gives %d checkpoints, want %d", where, n, len(all))
		}
		for _, st := range all {
			tp, err := s.GetTuple(ctx, st.cfg)
			if err != nil {
				t.Fatalf("%s: GetTuple %+v: %v", where, st.cfg, err)
			}
			var got string
			if err := tp.Decode(st.ch, &got); err != nil || got != st.val {
				t.Fatalf("%s: %+v channel %q = %q (%v), want %q", where, st.cfg, st.ch, got, err, st.val)
			}
			if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].Channel != st.ch {
				t.Fatalf("%s: %+v: pending writes %+v", where, st.cfg, tp.PendingWrites)
			}
			var n int
			for lt, err := range s.List(ctx, ckpt.ListOptions{ThreadID: st.cfg.ThreadID, Namespace: ckpt.NS(st.cfg.CheckpointNS)}) {
				if err != nil {
					t.Fatalf("%s: List %+v: %v", where, st.cfg, err)
				}
				if !reflect.DeepEqual(lt, tp) {
					t.Fatalf("%s: List %+v gives another tuple than GetTuple", where, st.cfg)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("%s: List %+v: %d tuples", where, st.cfg, n)
			}
		}
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("%s: Verify: %v %v", where, err, rep.Problems)
		}
	}
	check(s, "stored")
	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(s, "reopened")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := ckpt.Open(filepath.Join(dir, "imported.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	check(s2, "imported")
}
