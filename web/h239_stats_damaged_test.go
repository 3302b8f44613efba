package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestH239StatsPageNamesTheDamagedThreadAndShowsTheOthers: one damaged
// record (a metadata record's byte) in one of 5 threads, the store open
// read-only. The stats page answered with the error, no figure shown;
// now it shows the other threads' figures and names the damaged one.
func TestH239StatsPageNamesTheDamagedThreadAndShowsTheOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const threads, marker = 5, "MARKER-OF-THE-DAMAGED-RECORD"
	for i := range threads {
		meta := ckpt.Metadata{"node": "first"}
		if i == 3 {
			meta["note"] = marker
		}
		if _, err := s.Save(ctx, fmt.Sprintf("t-%d", i), map[string]any{"n": i}, meta); err != nil {
			t.Fatal(err)
		}
	}
	ro := closeAndDamage(t, s, path, marker, strings.ToLower(marker))
	c := newClient(t, web.Handler(ro, web.Options{}))
	code, body := c.get("/stats")
	if code != 200 {
		t.Fatalf("GET /stats: status %d, want 200 with the other threads' figures\n%.800s", code, body)
	}
	i := strings.Index(body, `id="damaged"`)
	if i < 0 {
		t.Fatalf("GET /stats does not name the damaged thread\n%.2000s", body)
	}
	line := body[i:]
	line = line[:strings.Index(line, "</p>")]
	if !strings.Contains(line, "1 thread is damaged") || !strings.Contains(line, ">t-3</a>") || strings.Contains(line, "t-2") {
		t.Errorf("the damaged line does not name t-3 alone: %s", line)
	}
	if !strings.Contains(body, "5 threads · 4 checkpoints") {
		t.Errorf("GET /stats does not count 5 threads and the 4 sound ones' checkpoints\n%.2000s", body)
	}
}
