package redisstore

// h117-hunt: calls ended by very short deadlines (0-12 ms) and replies
// cut by a proxy, on a small shared pool, never hand a call another
// call's reply: every tuple read belongs to the thread (and checkpoint)
// asked for, is whole, and every error is the deadline or ErrUnavailable.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

func TestH117DeadlinesAndCutsNeverCrossReplies(t *testing.T) {
	srv := sharedServer(t)
	run := 2 * time.Second
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		run = time.Duration(v) * time.Second
	}
	p := newCutProxy(t, srv.Addr())
	s := newTestStore(t, srv, Options{Redis: &redis.Options{Addr: p.addr(), PoolSize: 4}})
	const threads = 8
	var ok, deadlines, unavailable atomic.Int64
	stopAt := time.Now().Add(run)
	var wg sync.WaitGroup
	check := func(tp *ckpt.Tuple, thread string, id string) error {
		var who string
		var n int
		if tp.Decode("who", &who) != nil || tp.Decode("n", &n) != nil || who != thread || tp.Config.ThreadID != thread ||
			(id != "" && tp.Config.CheckpointID != id) || fmt.Sprint(tp.Metadata["n"]) != strconv.Itoa(n) ||
			len(tp.PendingWrites) != 1 || tp.PendingWrites[0].TaskID != thread+"-"+strconv.Itoa(n) {
			return fmt.Errorf("asked for %s %s, got %+v holding %q step %d, metadata %v, writes %+v", thread, id, tp.Config, who, n, tp.Metadata, tp.PendingWrites)
		}
		return nil
	}
	for th := range threads {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(th)))
			thread := fmt.Sprintf("t%d", th)
			head := ckpt.Config{ThreadID: thread}
			var mine []ckpt.Config
			n := 0
			for time.Now().Before(stopAt) {
				ctx, cancel := context.WithTimeout(bg, time.Duration(rng.IntN(12000))*time.Microsecond)
				if rng.IntN(40) == 0 {
					p.armed.Store(true)
				}
				var err error
				switch op := rng.IntN(4); {
				case op == 0:
					var c ckpt.Config
					nv := map[string]string{"who": "1", "n": strconv.Itoa(n + 1)}
					c, err = s.PutFull(ctx, head, ckpt.Checkpoint{ChannelValues: map[string]any{"who": thread, "n": n + 1}, ChannelVersions: nv},
						ckpt.Metadata{"n": n + 1}, nv, []ckpt.TaskWrites{{TaskID: thread + "-" + strconv.Itoa(n+1), Writes: []ckpt.Write{{Channel: "w", Value: n + 1}}}})
					if err == nil {
						if c.ThreadID != thread {
							t.Errorf("put on %s returned %+v", thread, c)
						}
						head = c
						mine = append(mine, c)
						n++
					}
				case op == 1 || len(mine) == 0:
					var tp *ckpt.Tuple
					tp, err = s.GetTuple(ctx, ckpt.Config{ThreadID: thread})
					if err == nil {
						if cerr := check(tp, thread, ""); cerr != nil {
							t.Error(cerr)
						}
					} else if errors.Is(err, ckpt.ErrNotFound) {
						err = nil
					}
				case op == 2:
					c := mine[rng.IntN(len(mine))]
					var tp *ckpt.Tuple
					if tp, err = s.GetTuple(ctx, c); err == nil {
						if cerr := check(tp, thread, c.CheckpointID); cerr != nil {
							t.Error(cerr)
						}
					}
				default:
					for tp, e := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Limit: 80}) {
						if err = e; e != nil {
							break
						}
						if cerr := check(tp, thread, ""); cerr != nil {
							t.Error(cerr)
						}
					}
				}
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					deadlines.Add(1)
				case errors.Is(err, ErrUnavailable):
					unavailable.Add(1)
				default:
					t.Errorf("%s: %v", thread, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() == 0 || deadlines.Load() == 0 {
		t.Fatalf("%d calls answered, %d ended by their deadline: the hunt did not bite", ok.Load(), deadlines.Load())
	}
	t.Logf("%v: %d calls answered and checked, %d ended by their deadline, %d ErrUnavailable, %d replies cut", run, ok.Load(), deadlines.Load(), unavailable.Load(), p.cuts.Load())
}
