package redisstore

// h117-hunt: redis-server without persistence (appendonly no, no RDB)
// killed and restarted under running workers: everything is gone, and the
// store says so plainly. A put on a parent that was lost fails with
// ckpt.ErrNotFound, the head reads as ErrNotFound, workers start again
// from nothing, and nothing read afterwards is another thread's or
// half-written; no error is anything but ErrUnavailable (while Redis is
// down), ErrNotFound or ErrConflict.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func TestH117DataLossRestartIsPlainNotFound(t *testing.T) {
	redistest.Need(t)
	if testing.Short() {
		t.Skip("kills redis-server")
	}
	srv, err := redistest.Start(t.TempDir(), "--appendonly", "no")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{Prefix: "dl", Redis: &redis.Options{MaxRetries: 1, DialerRetries: 1}})
	var restarted atomic.Bool
	var putsBefore, putsAfter, lostParents atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []error
	for th := range 4 {
		wg.Go(func() {
			thread := fmt.Sprintf("t%d", th)
			head := ckpt.Config{ThreadID: thread}
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(bg, time.Second)
				c, err := s.PutFull(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), head,
					ckpt.Checkpoint{ChannelValues: map[string]any{"who": thread, "n": n}, ChannelVersions: map[string]string{"who": "1", "n": fmt.Sprint(n)}},
					ckpt.Metadata{"who": thread}, map[string]string{"who": "1", "n": fmt.Sprint(n)},
					[]ckpt.TaskWrites{{TaskID: "t", Writes: []ckpt.Write{{Channel: "w", Value: thread}}}})
				cancel()
				switch {
				case err == nil:
					head = c
					if restarted.Load() {
						putsAfter.Add(1)
					} else {
						putsBefore.Add(1)
					}
					continue
				case errors.Is(err, ErrUnavailable):
					time.Sleep(10 * time.Millisecond)
					continue
				case errors.Is(err, ckpt.ErrNotFound):
					lostParents.Add(1)
				case errors.Is(err, ckpt.ErrConflict):
				default:
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
					return
				}
				ctx, cancel = context.WithTimeout(bg, time.Second)
				tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread})
				cancel()
				switch {
				case err == nil:
					var who string
					if tp.Decode("who", &who); who != thread || len(tp.PendingWrites) != 1 {
						mu.Lock()
						bad = append(bad, fmt.Errorf("%s read %q with %d writes", thread, who, len(tp.PendingWrites)))
						mu.Unlock()
						return
					}
					head = tp.Config
				case errors.Is(err, ckpt.ErrNotFound):
					head = ckpt.Config{ThreadID: thread} // lost: start again
				case errors.Is(err, ErrUnavailable):
				default:
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	// Kill once the workers have heads to lose (200 ms of puts made none
	// on a loaded machine, and then no put met a lost parent).
	for putsBefore.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	srv.Kill()
	time.Sleep(50 * time.Millisecond)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted.Store(true)
	// go-redis fails fast with its last dial error for up to a second
	// after Redis is back; wait until the workers write again (a few
	// seconds of it, or until what the test needs was seen: the 2
	// minutes only bound a store that never writes again).
	start := time.Now()
	for putsAfter.Load() < 200 && time.Since(start) < 2*time.Minute &&
		(time.Since(start) < 5*time.Second || putsAfter.Load() == 0 || lostParents.Load() == 0) {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, err := range bad {
		t.Error(err)
	}
	if putsAfter.Load() == 0 || lostParents.Load() == 0 {
		t.Fatalf("after the restart: %d puts, %d puts on a lost parent", putsAfter.Load(), lostParents.Load())
	}
	n := 0
	for tp, err := range s.List(bg, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		var who string
		if tp.Decode("who", &who); who != tp.Config.ThreadID || len(tp.PendingWrites) != 1 {
			t.Fatalf("%+v holds %q, %d writes", tp.Config, who, len(tp.PendingWrites))
		}
		n++
	}
	t.Logf("after the restart: %d puts on a lost parent were ErrNotFound, %d puts stored, %d listed", lostParents.Load(), putsAfter.Load(), n)
}
