package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// docs/browser.md: "A page asked for after a pause is built at once, so a person
// clicking sees no difference". After the stats page of a large store
// (its figures read the whole file: 2.5 s for 100,000 checkpoints) the
// next page, whatever it was, waited nine times that (20 s in a trial):
// the gate charged the figures' computation like a page build, though
// the stats cache already limits it to a hundredth of a core
// (statsCostFactor). The next page must not wait for the figures.
func TestPageAfterStatsDoesNotWaitForTheFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of 20,000 checkpoints")
	}
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 20000 {
		if _, err := s.Save(ctx, fmt.Sprint("t", i%20), map[string]any{"i": i, "l": []int{i % 7}}, ckpt.Metadata{"step": i}); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	start := time.Now()
	if code, page := c.get("/stats"); code != 200 {
		t.Fatalf("stats: %d %s", code, errorText(page))
	}
	statsTook := time.Since(start)
	start = time.Now()
	if code, page := c.get("/"); code != 200 {
		t.Fatalf("threads: %d %s", code, errorText(page))
	}
	// The threads page of 20 threads builds in milliseconds; charged for
	// the figures it waited 9 times the stats page.
	if next := time.Since(start); next > 3*statsTook {
		t.Fatalf("the page after the stats page (%v) took %v", statsTook, next)
	}
}
