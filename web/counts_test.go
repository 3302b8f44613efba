package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The stats page of a store with one thread said "1 threads · 1
// checkpoints · 1 pending writes", the thread page "1 checkpoints".
func TestCountsOfOneAreSingular(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "one.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "only"}, ckpt.Checkpoint{
		ChannelValues: map[string]any{"a": 1}, ChannelVersions: map[string]string{"a": "1"},
	}, nil, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "a", Value: 2}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	for page, want := range map[string][]string{
		"/stats":         {"1 thread ·", "1 checkpoint ·", "1 pending write ·", "1 stored channel value ·"},
		"/thread?t=only": {"1 checkpoint ·", "1 pending write ·"},
	} {
		code, body := c.get(page)
		if code != 200 {
			t.Fatalf("%s: status %d", page, code)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not say %q", page, w)
			}
		}
	}
}

// Counts of a thousand and more are grouped in threes, as a person reads
// them: the threads page said "1200 threads", its rows and the stats
// page's keys "1200".
func TestCountsAreGroupedInThrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "many.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cfg ckpt.Config
	for i := range 1200 {
		thread := "thread-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		if cfg, err = s.Put(ctx, ckpt.Config{ThreadID: thread}, ckpt.Checkpoint{
			ChannelValues: map[string]any{"a": i}, ChannelVersions: map[string]string{"a": "1"},
		}, nil, map[string]string{"a": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	var writes []ckpt.Write
	for i := range 1001 {
		writes = append(writes, ckpt.Write{Channel: "a", Value: i})
	}
	if err := s.PutWrites(ctx, cfg, writes, "task", ""); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	for page, want := range map[string][]string{
		"/":      {"1,200 threads, newest first", `<td class="n">1,001</td>`},
		"/stats": {"1,200 threads ·", "1,200 checkpoints ·", "1,001 pending writes ·", `<td class="n">1,200</td>`},
	} {
		code, body := c.get(page)
		if code != 200 {
			t.Fatalf("%s: status %d", page, code)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not say %q", page, w)
			}
		}
	}
}
