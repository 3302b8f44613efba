package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// fakeClock is the gate's clock in these tests: sleeping moves it on, and
// every sleep is recorded, so the gate's arithmetic is tested without
// waiting and without timing thresholds.
type fakeClock struct {
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func fakeGate(share float64) (*gate, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	g := newGate(share)
	g.now, g.sleep = c.now, c.sleep
	return g, c
}

// build runs one build of length d through g.
func build(t *testing.T, g *gate, c *fakeClock, d time.Duration) {
	t.Helper()
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(d)
	leave()
}

func TestGateSpacesBuildsByTheirCost(t *testing.T) {
	for _, tc := range []struct {
		share float64
		want  time.Duration // the wait before the second of two back-to-back builds of 10 ms
	}{
		{0.25, 30 * time.Millisecond},
		{0.1, 90 * time.Millisecond},
		{0.5, 10 * time.Millisecond},
		{0.1, 90 * time.Millisecond},
		{0, 90 * time.Millisecond},  // the default, 0.1
		{-1, 90 * time.Millisecond}, // the default, 0.1
		{1, 0},                      // one at a time, no pause
		{4, 0},
	} {
		g, c := fakeGate(tc.share)
		build(t, g, c, 10*time.Millisecond)
		build(t, g, c, 10*time.Millisecond)
		var got time.Duration
		for _, d := range c.sleeps {
			got += d
		}
		if got != tc.want {
			t.Errorf("share %v: waited %v before the second build, want %v", tc.share, got, tc.want)
		}
	}
}

// A script loading pages back to back gets share of the time: over many
// builds, build time / elapsed time is the share.
func TestGateHoldsAScriptToItsShare(t *testing.T) {
	g, c := fakeGate(0.25)
	start := c.t
	var busy time.Duration
	for i := range 100 {
		d := time.Duration(1+i%7) * time.Millisecond
		build(t, g, c, d)
		busy += d
	}
	// The last build's pause has not been waited yet: add it.
	elapsed := g.next.Sub(start)
	if share := float64(busy) / float64(elapsed); share < 0.2499 || share > 0.2501 {
		t.Errorf("a script got %.4f of the time, want 0.25", share)
	}
}

func TestGateBuildsAtOnceAfterAPause(t *testing.T) {
	g, c := fakeGate(0.25)
	build(t, g, c, 20*time.Millisecond)
	c.t = c.t.Add(time.Second) // a person reading the page
	build(t, g, c, 20*time.Millisecond)
	if len(c.sleeps) != 0 {
		t.Errorf("a page asked for after a pause waited %v", c.sleeps)
	}
	// A pause shorter than the build's share waits only the rest of it.
	c.t = c.t.Add(50 * time.Millisecond)
	build(t, g, c, 0)
	if len(c.sleeps) != 1 || c.sleeps[0] != 10*time.Millisecond {
		t.Errorf("after 50 of the 60 ms pause: waited %v, want [10ms]", c.sleeps)
	}
}

// A build holds the gate; a second request waits and, when its client goes
// away, returns the context's error and leaves the gate free.
func TestGateWaiterWhoseClientGoesReturns(t *testing.T) {
	g := newGate(1) // no pause: only the running build makes the wait
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		l, err := g.enter(ctx)
		if err == nil {
			l()
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the waiting request got %v, want context.Canceled (it was let in while a build ran)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting request whose context ended did not return")
	}
	leave()
	// The gate is free again: the cancelled waiter took nothing with it.
	l, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l()
}

// A request cancelled during the pause after another's build returns and
// gives the slot back.
func TestGateWaiterCancelledInThePauseReturns(t *testing.T) {
	g, c := fakeGate(0.25)
	build(t, g, c, 10*time.Millisecond)
	g.sleep = func(ctx context.Context, d time.Duration) error {
		<-ctx.Done() // the pause outlasts the client
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.enter(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	c.t = c.t.Add(time.Second)
	build(t, g, c, 0) // would block for ever if the slot had not been given back
}

// Through the handler: a page request that must wait at the gate (the
// pause after an earlier build has not passed) waits there, and stops when
// its client goes away.
func TestPageRequestWaitingAtTheGateStopsWithItsClient(t *testing.T) {
	st, err := ckpt.Open(filepath.Join(t.TempDir(), "g.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Save(context.Background(), "t1", map[string]any{"x": 1}, nil); err != nil {
		t.Fatal(err)
	}
	s := Handler(st, Options{}).(*server)
	s.gate.next = time.Now().Add(time.Hour) // an earlier build's pause
	sleeping := make(chan struct{})
	s.gate.sleep = func(ctx context.Context, d time.Duration) error {
		sleeping <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	for _, path := range []string{"/", "/thread?t=t1", "/checkpoint?t=t1&id=x", "/diff?t=t1&a=x&b=y", "/stats", "/head?t=t1", "/events?t=t1"} {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		req.Host = "localhost"
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			s.ServeHTTP(rec, req)
			close(done)
		}()
		select {
		case <-sleeping:
		case <-done:
			t.Errorf("GET %s: answered %d without waiting at the gate", path, rec.Code)
			cancel()
			continue
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("GET %s: still waiting at the gate after its client went away", path)
		}
	}
	// Static files do not wait.
	req := httptest.NewRequest("GET", "/static/app.css", nil)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /static/app.css: %d", rec.Code)
	}
}

func TestStatsComputedAtMostEveryMaxAge(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	var cache statsCache
	calls := 0
	cost := 10 * time.Millisecond
	compute := func(context.Context) (*ckpt.Stats, error) {
		calls++
		c.t = c.t.Add(cost)
		return &ckpt.Stats{Threads: calls}, nil
	}
	get := func() (*ckpt.Stats, time.Time) {
		t.Helper()
		st, at, _, _, err := cache.get(context.Background(), c.now, compute)
		if err != nil {
			t.Fatal(err)
		}
		return st, at
	}
	st, at0 := get()
	c.t = c.t.Add(statsMinAge - cost - time.Millisecond)
	if st2, at := get(); st2 != st || !at.Equal(at0) || calls != 1 {
		t.Fatalf("within %v: computed %d times, want 1 (as of %v)", statsMinAge, calls, at)
	}
	c.t = c.t.Add(time.Millisecond)
	if _, at := get(); calls != 2 || !at.After(at0) {
		t.Fatalf("after %v: computed %d times, want 2", statsMinAge, calls)
	}
	cache.forget()
	get()
	if calls != 3 {
		t.Fatalf("after forget: computed %d times, want 3", calls)
	}
	// Figures that took long are kept longer: 1 s of work is shown 100 s.
	cost = time.Second
	cache.forget()
	get()
	c.t = c.t.Add(98 * time.Second) // 99 s after the computation began
	get()
	if calls != 4 {
		t.Fatalf("figures that took 1 s, 99 s after: computed %d times, want 4", calls)
	}
	c.t = c.t.Add(time.Second)
	get()
	if calls != 5 {
		t.Fatalf("figures that took 1 s, 100 s after: computed %d times, want 5", calls)
	}
	// An error is not kept.
	cache.forget()
	compute = func(context.Context) (*ckpt.Stats, error) { calls++; return nil, errors.New("boom") }
	for range 2 {
		if _, _, _, _, err := cache.get(context.Background(), c.now, compute); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("got %v, want boom", err)
		}
	}
	if calls != 7 {
		t.Fatalf("a failed computation was kept: %d calls, want 7", calls)
	}
}
