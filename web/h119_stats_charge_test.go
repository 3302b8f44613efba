package web

import (
	"context"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// The stats figures are left out of the gate's charge because the cache
// holds their computation to its own share (one per max age). A write
// action forgets them, so with AllowWrites a loop of "write, stats page"
// recomputed them every time, uncharged: a computation made before the
// last figures' max age is charged like any other build.
func TestStatsRecomputedEarlyAfterAWriteIsCharged(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	var cache statsCache
	cost := 10 * time.Millisecond
	compute := func(context.Context) (*ckpt.Stats, error) {
		c.t = c.t.Add(cost)
		return &ckpt.Stats{}, nil
	}
	get := func() time.Duration {
		t.Helper()
		_, _, _, exempt, err := cache.get(context.Background(), c.now, compute)
		if err != nil {
			t.Fatal(err)
		}
		return exempt
	}
	if e := get(); e != cost {
		t.Fatalf("first figures: %v not charged, want %v", e, cost)
	}
	if e := get(); e != 0 {
		t.Fatalf("figures from the cache: %v not charged, want 0", e)
	}
	for i := range 3 { // write, stats page
		cache.forget()
		if e := get(); e != 0 {
			t.Fatalf("figures computed again %d after a write, within their max age: %v not charged, want 0", i, e)
		}
	}
	c.t = c.t.Add(statsMinAge)
	cache.forget()
	if e := get(); e != cost {
		t.Fatalf("figures computed again after their max age: %v not charged, want %v", e, cost)
	}
}
