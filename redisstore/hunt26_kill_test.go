package redisstore

// redis-server killed (SIGKILL) in the middle of concurrent writes, with
// appendfsync always (h26-hunt): after a restart every acknowledged put
// and pending write reads back exactly; every checkpoint stored is whole
// (a put is one script: all of it or none, even the one whose reply the
// kill cut off, an outcome the caller cannot know: ErrUnavailable); each
// thread is a chain of steps; the failed calls say ErrUnavailable (or
// the context's error), never another error.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

// huntState is step n of thread th: a list that grows by one item a step
// and a counter.
func huntState(th, n int) (map[string]any, map[string]string) {
	items := make([]any, n)
	for i := range items {
		items[i] = fmt.Sprintf("t%d item %d", th, i+1)
	}
	return map[string]any{"items": items, "n": int64(n)}, map[string]string{"items": strconv.Itoa(n), "n": strconv.Itoa(n)}
}

type huntAcked struct {
	cfg    ckpt.Config
	n      int
	writes bool
}

func TestHuntRedisKilledMidWrite(t *testing.T) {
	srv, rounds := killHunt(t, 6)
	const writers = 4
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 26))
	heads := make([]huntAcked, writers) // each thread's newest acknowledged step
	total, failedCalls, storedCut := 0, 0, 0
	for round := range rounds {
		s := newTestStore(t, srv, Options{Prefix: "hunt", Redis: &redis.Options{MaxRetries: 1, DialerRetries: 1}})
		// Each writer goes on from its thread's newest checkpoint, as a
		// graph runner resumes: a put whose reply the kill cut off may be
		// stored (its outcome is unknown to the caller, ErrUnavailable).
		for th := range writers {
			tp, err := s.GetTuple(bg, ckpt.Config{ThreadID: fmt.Sprintf("t%d", th)})
			if errors.Is(err, ckpt.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n := huntCheckTuple(t, tp, false)
			if n > heads[th].n+1 {
				t.Fatalf("round %d: t%d's newest is step %d, acknowledged up to %d: more than the one put cut off", round, th, n, heads[th].n)
			}
			if n > heads[th].n {
				storedCut++
			}
			heads[th] = huntAcked{tp.Config, n, false}
		}
		var mu sync.Mutex
		var acked []huntAcked
		var errs []error
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for th := range writers {
			wg.Go(func() {
				parent := heads[th].cfg
				parent.ThreadID = fmt.Sprintf("t%d", th)
				for n := heads[th].n + 1; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					st, vers := huntState(th, n)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					nv := map[string]string{"items": vers["items"], "n": vers["n"]}
					c, err := s.Put(ctx, parent, ckpt.Checkpoint{ChannelValues: st, ChannelVersions: vers}, ckpt.Metadata{"n": n}, nv)
					if err == nil {
						err = s.PutWrites(ctx, c, []ckpt.Write{{Channel: "w", Value: fmt.Sprintf("t%d write %d", th, n)}}, "task", "")
						mu.Lock()
						acked = append(acked, huntAcked{c, n, err == nil})
						heads[th] = huntAcked{c, n, err == nil}
						mu.Unlock()
					}
					cancel()
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					parent = c
				}
			})
		}
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		srv.Kill()
		close(stop)
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d: a write cut off by the kill failed with %v, want ErrUnavailable", round, err)
			}
		}
		failedCalls += len(errs)
		total += len(acked)
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		s2 := newTestStore(t, srv, Options{Prefix: "hunt"})
		for _, a := range acked {
			tp, err := s2.GetTuple(bg, a.cfg)
			if err != nil {
				t.Fatalf("round %d: acknowledged checkpoint %+v (step %d) lost: %v", round, a.cfg, a.n, err)
			}
			huntCheckTuple(t, tp, a.writes)
		}
		for th := range writers {
			want := 0
			for tp, err := range s2.List(bg, ckpt.ListOptions{ThreadID: fmt.Sprintf("t%d", th)}) {
				if err != nil {
					t.Fatalf("round %d: List t%d: %v", round, th, err)
				}
				n := huntCheckTuple(t, tp, false)
				if want != 0 && n != want {
					t.Fatalf("round %d: t%d lists step %d after step %d", round, th, n, want+1)
				}
				want = n - 1
			}
			if want != 0 {
				t.Fatalf("round %d: t%d's oldest step is %d", round, th, want+1)
			}
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatal("nothing acknowledged")
	}
	t.Logf("%d rounds: %d acknowledged puts, %d calls cut off by the kill, %d of whose puts were stored (found before the next round)", rounds, total, failedCalls, storedCut)
}

// huntCheckTuple checks that tp is whole: its state is the one its step
// says, its pending write (if any, and required if writes) its own. It
// returns the step.
func huntCheckTuple(t *testing.T, tp *ckpt.Tuple, writes bool) int {
	t.Helper()
	var n int
	if err := tp.Decode("n", &n); err != nil {
		t.Fatalf("%+v: n: %v", tp.Config, err)
	}
	var th int
	if _, err := fmt.Sscanf(tp.Config.ThreadID, "t%d", &th); err != nil {
		t.Fatalf("thread %q", tp.Config.ThreadID)
	}
	st, vers := huntState(th, n)
	var items []any
	if err := tp.Decode("items", &items); err != nil || fmt.Sprint(items) != fmt.Sprint(st["items"]) {
		t.Fatalf("%+v step %d: items %v (%v)", tp.Config, n, items, err)
	}
	if fmt.Sprint(tp.Checkpoint.ChannelVersions) != fmt.Sprint(vers) || fmt.Sprint(tp.Metadata["n"]) != strconv.Itoa(n) {
		t.Fatalf("%+v step %d: versions %v, metadata %v", tp.Config, n, tp.Checkpoint.ChannelVersions, tp.Metadata)
	}
	switch len(tp.PendingWrites) {
	case 0:
		if writes {
			t.Fatalf("%+v step %d: acknowledged pending write lost", tp.Config, n)
		}
	case 1:
		var w string
		if err := tp.PendingWrites[0].Value.Decode(&w); err != nil || w != fmt.Sprintf("t%d write %d", th, n) {
			t.Fatalf("%+v step %d: pending write %q (%v)", tp.Config, n, w, err)
		}
	default:
		t.Fatalf("%+v step %d: %d pending writes", tp.Config, n, len(tp.PendingWrites))
	}
	return n
}
