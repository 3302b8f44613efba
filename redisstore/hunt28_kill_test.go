package redisstore

// redis-server killed (SIGKILL) in the middle of PutFull (checkpoint and
// pending writes in one call), trimming (Options.KeepLast inside the put,
// and KeepLast calls beside it) and DeleteThread, with appendfsync always
// (h28-hunt; h26's TestHuntRedisKilledMidWrite covers Put and PutWrites):
// after a restart each thread's newest checkpoint is its newest
// acknowledged one or the one call the kill cut off; every checkpoint
// listed is whole and has its pending write (PutFull stores both or
// neither); a thread's steps are contiguous (trimming takes the oldest);
// a thread whose DeleteThread was acknowledged is gone unless a later put
// (acknowledged or cut off) made it again.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

// hunt28Op is one call on a thread: a put of step n, or a delete (n 0).
type hunt28Op struct {
	n     int
	acked bool
}

func TestHunt28RedisKilledMidPutFullTrimDelete(t *testing.T) {
	srv, rounds := killHunt(t, 4)
	const threads = 4 // t0..t2 put and are trimmed; t3 is also deleted now and then
	const keep = 3
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 28))
	heads := make([]int, threads)
	acked, cut := 0, 0
	for round := range rounds {
		opts := Options{Prefix: "hunt28", KeepLast: keep, Redis: &redis.Options{MaxRetries: 1, DialerRetries: 1}}
		s := newTestStore(t, srv, opts)
		var mu sync.Mutex
		last := make([][]hunt28Op, threads) // per thread: the calls of this round, in order
		var errs []error
		var wg sync.WaitGroup
		stop := make(chan struct{})
		call := func(th int, op func(ctx context.Context) error, n int) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := op(ctx)
			mu.Lock()
			defer mu.Unlock()
			last[th] = append(last[th], hunt28Op{n, err == nil})
			if err != nil {
				errs = append(errs, err)
			}
			return err == nil
		}
		for th := range threads {
			wg.Go(func() {
				thread := fmt.Sprintf("t%d", th)
				n := heads[th]
				for {
					select {
					case <-stop:
						return
					default:
					}
					if th == threads-1 && n >= 4 {
						if !call(th, func(ctx context.Context) error { return s.DeleteThread(ctx, thread) }, 0) {
							return
						}
						n = 0
						continue
					}
					st, vers := huntState(th, n+1)
					parent := ckpt.Config{ThreadID: thread}
					if n > 0 {
						tp, err := s.GetTuple(context.Background(), parent)
						if err != nil {
							return // the kill; the check below knows n
						}
						parent = tp.Config
					}
					put := func(ctx context.Context) error {
						_, err := s.PutFull(ctx, parent, ckpt.Checkpoint{ChannelValues: st, ChannelVersions: vers}, ckpt.Metadata{"n": n + 1}, vers,
							[]ckpt.TaskWrites{{TaskID: "task", Writes: []ckpt.Write{{Channel: "w", Value: fmt.Sprintf("t%d write %d", th, n+1)}}}})
						return err
					}
					if !call(th, put, n+1) {
						return
					}
					n++
				}
			})
		}
		wg.Go(func() { // trimming beside the puts
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := s.KeepLast(ctx, []string{"t0", "t1", "t2"}, 2)
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
		time.Sleep(time.Duration(30+rng.IntN(200)) * time.Millisecond)
		srv.Kill()
		close(stop)
		wg.Wait()
		_ = s.Close()
		for _, err := range errs {
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d: a call cut off by the kill failed with %v, want ErrUnavailable", round, err)
			}
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		s2 := newTestStore(t, srv, Options{Prefix: "hunt28"})
		for th := range threads {
			thread := fmt.Sprintf("t%d", th)
			// What may be there: the state after the last acknowledged call,
			// or after the one call that failed (the kill cut it off).
			want := []int{heads[th]}
			for _, op := range last[th] {
				if op.acked {
					want = []int{op.n}
					acked++
				} else {
					want = append(want, op.n)
					cut++
				}
			}
			head, prev, listed := 0, 0, 0
			for tp, err := range s2.List(bg, ckpt.ListOptions{ThreadID: thread}) {
				if err != nil {
					t.Fatalf("round %d: List %s: %v", round, thread, err)
				}
				n := huntCheckTuple(t, tp, true)
				if listed == 0 {
					head = n
				} else if n != prev-1 {
					t.Fatalf("round %d: %s lists step %d after step %d", round, thread, n, prev)
				}
				prev = n
				listed++
			}
			if listed > keep {
				t.Fatalf("round %d: %s holds %d checkpoints, KeepLast %d", round, thread, listed, keep)
			}
			if !slices.Contains(want, head) {
				t.Fatalf("round %d: %s's newest is step %d (0: none), want one of %v (calls %v)", round, thread, head, want, last[th])
			}
			heads[th] = head
		}
		_ = s2.Close()
	}
	if acked == 0 {
		t.Fatal("nothing acknowledged")
	}
	t.Logf("%d rounds: %d acknowledged calls, %d cut off by the kill", rounds, acked, cut)
}
