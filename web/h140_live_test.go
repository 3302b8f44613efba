package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The thread page's "live" mark says the first page follows new
// checkpoints as they arrive (its event stream). On a store opened
// read-only (`ckpt ui FILE`: a file at rest, which no process can write
// while it is held read-only) nothing can arrive: the mark showed all the
// same, and the page polled the store for good. Now the mark and the
// stream's wiring (data-live) are there only where a writer can add
// checkpoints: a store opened read-write, on the first page.
func TestLiveMarkOnlyWhereCheckpointsCanArrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, ckpt.Metadata{"step": 0}); err != nil {
		t.Fatal(err)
	}
	live := func(t *testing.T, s *ckpt.Store, want bool) {
		t.Helper()
		code, body := newClient(t, web.Handler(s, web.Options{})).get("/thread?t=t")
		if code != 200 {
			t.Fatalf("thread page: %d\n%s", code, body)
		}
		mark := strings.Contains(body, `id="live"`)
		wired := strings.Contains(body, `data-live="true"`)
		if mark != want || wired != want {
			t.Errorf("read-only %v: the live mark shows %v, the page follows new checkpoints %v; want %v", s.ReadOnly(), mark, wired, want)
		}
	}
	live(t, s, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	live(t, ro, false)
}
