package web

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// defaultCPUShare is Options.MaxCPUShare's default: a script that loads
// pages in a loop gets a tenth of one core. On the 2-core machine of
// bench/RESULTS.md a goroutine that burns a whole core beside 16 Sync
// writers made their p99 2-4x; with a script loading pages held to a
// quarter of a core it was 1.39x of alone in the median of 18 runs, held to
// a tenth 1.01x of 12 (runs that loaded no page: 0.74x-0.98x; "Issue 15
// again", on a machine whose load made single runs swing). The pause after
// a build is 9 times the build (90 ms after a 10 ms page): a person
// clicking does not wait; a script gets one page per ten builds' time.
const defaultCPUShare = 0.1

// gate admits page builds: one at a time, and after a build that took d
// the next may start no sooner than d*(1/share-1) later, so builds take at
// most share of one core however fast requests arrive. A page asked for
// after a pause longer than that is built at once: only a script that
// loads pages back to back ever waits. The build time is wall time, which
// on a busy machine is more than the CPU time the build used: the gate
// errs on the side of the writers.
type gate struct {
	// slot holds a token while a build runs (capacity one); whoever holds
	// it owns next, so next needs no lock of its own.
	slot chan struct{}
	rest float64 // 1/share - 1: the pause after a build, per unit of its time
	next time.Time
	// exempt is time the running build spent on work held to its own
	// share elsewhere (the stats figures, statsCostFactor): not charged.
	exempt time.Duration
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

func newGate(share float64) *gate {
	if share <= 0 {
		share = defaultCPUShare
	}
	return &gate{
		slot:  make(chan struct{}, 1),
		rest:  max(0, 1/share-1),
		now:   time.Now,
		sleep: sleepCtx,
	}
}

// enter waits until a build may start and returns the function that ends
// it. A request whose context ends while it waits (the client went away)
// returns the context's error and leaves nothing behind.
func (g *gate) enter(ctx context.Context) (leave func(), err error) {
	select {
	case g.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if wait := g.next.Sub(g.now()); wait > 0 {
		if err := g.sleep(ctx, wait); err != nil {
			<-g.slot
			return nil, err
		}
	}
	start := g.now()
	g.exempt = 0
	return func() {
		end := g.now()
		spent := max(0, end.Sub(start)-g.exempt)
		g.next = end.Add(time.Duration(float64(spent) * g.rest))
		<-g.slot
	}, nil
}

// notCharged tells the gate that d of the running build was work limited
// to its own share elsewhere, so the pause after the build leaves it out.
// Only the build that holds the slot calls it.
func (g *gate) notCharged(d time.Duration) { g.exempt += d }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gated runs a page handler through the gate. The page is built into a
// buffer and the gate is left before the bytes go to the client, so a slow
// client neither holds up other pages nor counts as build time.
func (s *server) gated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The store is borrowed before the gate is entered: a lender that
		// waits for a held file (ckpt ui) must not charge that wait to the
		// gate as build time.
		ctx, give, err := s.borrow(r.Context(), false)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		// A build that panics (net/http recovers it and logs it) gives the
		// store back too (give runs once).
		defer give()
		r = r.WithContext(ctx)
		leave, err := s.gate.enter(ctx)
		if err != nil {
			// The client is gone (or the server is shutting down): there is
			// no one to answer, but say why for a log that records it.
			http.Error(w, "ckpt web: request ended while waiting for its turn: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		// A build that panics (net/http recovers it and logs it) must give
		// the slot back too, or every later page would wait for ever.
		leaveOnce := sync.OnceFunc(leave)
		defer leaveOnce()
		bw := &bufferedWriter{header: http.Header{}}
		h(bw, r)
		leaveOnce()
		// Built: a slow client does not keep the file open.
		give()
		bw.copyTo(w)
	}
}

// bufferedWriter holds a page's response until the build is over.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) copyTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// newestGated is newest through the gate: one read of the event stream.
// The stream's wait between reads holds nothing.
func (s *server) newestGated(ctx context.Context, opts ckpt.ListOptions) (liveHead, error) {
	ctx, give, err := s.borrow(ctx, true)
	if err != nil {
		return liveHead{}, err
	}
	defer give()
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return liveHead{}, err
	}
	defer leave()
	return s.newest(ctx, opts)
}

// statsMinAge is how long the stats page shows the same figures at least;
// statsCostFactor makes a store whose statistics take longer to compute
// keep them longer, so computing them takes at most 1/statsCostFactor of a
// core whatever the size of the file (Store.Stats reads all of it: 78 ms
// for 200 W1 threads of 50 steps, BenchmarkPages/stats).
const (
	statsMinAge     = 5 * time.Second
	statsCostFactor = 100
)

// statsCache keeps the last Store.Stats for the stats page.
type statsCache struct {
	mu   sync.Mutex
	st   *ckpt.Stats // nil: none, or forgotten
	at   time.Time   // when the last figures were computed (kept by forget)
	took time.Duration
}

// maxAge is how long figures computed in took are shown.
func statsMaxAge(took time.Duration) time.Duration {
	return max(statsMinAge, statsCostFactor*took)
}

// get returns the statistics, computed now or less than maxAge ago, with
// the time they were computed and how long they took. exempt is the time
// of a computation made now that the cache holds to its own share (at
// most one per max age): the gate leaves it out. One made sooner, because
// a write action forgot the figures, is not exempt: a loop of writes and
// stats pages would otherwise recompute them uncharged every time.
func (c *statsCache) get(ctx context.Context, now func() time.Time, compute func(context.Context) (*ckpt.Stats, error)) (st *ckpt.Stats, at time.Time, took, exempt time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	due := c.at.IsZero() || t.Sub(c.at) >= statsMaxAge(c.took)
	if c.st != nil && !due {
		return c.st, c.at, c.took, 0, nil
	}
	if st, err = compute(ctx); err != nil {
		return nil, time.Time{}, 0, 0, err
	}
	c.st, c.at, c.took = st, t, now().Sub(t)
	if due {
		exempt = c.took
	}
	return c.st, c.at, c.took, exempt, nil
}

// forget drops the figures: the handler's own write actions call it, so a
// person who deleted a thread sees the stats without it.
func (c *statsCache) forget() {
	c.mu.Lock()
	c.st = nil
	c.mu.Unlock()
}
