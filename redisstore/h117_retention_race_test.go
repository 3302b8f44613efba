package redisstore

// h117-hunt: retention racing with writers. Writers extend their threads
// (PutFull with IfHead on their own head) while other clients run Prune
// (keep latest), KeepLast, DeleteForRuns, SweepIndex and CopyThread, a
// store with ThreadTTL makes threads that expire, and readers List and
// GetTuple. Retention never takes a head (no writer's put fails), every
// tuple read is whole, List never errors, and at rest the global index
// holds exactly the stored checkpoints.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestH117RetentionRacesWriters(t *testing.T) {
	srv := sharedServer(t)
	run := 3 * time.Second
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		run = time.Duration(v) * time.Second
	}
	w := newTestStore(t, srv, Options{})
	prefix := w.keys.prefix
	ret := newTestStore(t, srv, Options{Prefix: prefix})
	rd := newTestStore(t, srv, Options{Prefix: prefix})
	ttl := newTestStore(t, srv, Options{Prefix: prefix, ThreadTTL: 150 * time.Millisecond})
	const writers = 3
	heads := make([]ckpt.Config, writers)
	steps := make([]int, writers)
	var puts, reads, retained atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		failed.Store(true)
		t.Errorf(format, args...)
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return failed.Load()
		}
	}
	ctxT := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bg, 5*time.Second) }
	// whole checks a tuple written by put below.
	whole := func(tp *ckpt.Tuple) {
		var who string
		var n int
		if err := tp.Decode("who", &who); err != nil || tp.Decode("n", &n) != nil {
			fail("%+v: values %v", tp.Config, tp.Checkpoint.ChannelValues)
			return
		}
		if tp.Config.ThreadID != who && tp.Config.ThreadID != "copy-of-"+who {
			fail("%+v holds thread %q's value", tp.Config, who)
		}
		if fmt.Sprint(tp.Metadata["n"]) != strconv.Itoa(n) || len(tp.PendingWrites) != 1 {
			fail("%+v step %d: metadata %v, %d writes", tp.Config, n, tp.Metadata, len(tp.PendingWrites))
			return
		}
		var wv string
		if err := tp.PendingWrites[0].Value.Decode(&wv); err != nil || wv != fmt.Sprintf("%s write %d", who, n) {
			fail("%+v step %d: write %q", tp.Config, n, wv)
		}
	}
	put := func(s *Store, ctx context.Context, parent ckpt.Config, who, runID string, n int) (ckpt.Config, error) {
		return s.PutFull(ctx, parent,
			ckpt.Checkpoint{ChannelValues: map[string]any{"who": who, "n": n}, ChannelVersions: map[string]string{"who": "1", "n": strconv.Itoa(n)}},
			ckpt.Metadata{"n": n, "run_id": runID}, map[string]string{"who": "1", "n": strconv.Itoa(n)},
			[]ckpt.TaskWrites{{TaskID: "t", Writes: []ckpt.Write{{Channel: "w", Value: fmt.Sprintf("%s write %d", who, n)}}}})
	}
	for i := range writers {
		wg.Go(func() {
			thread := fmt.Sprintf("w%d", i)
			heads[i] = ckpt.Config{ThreadID: thread}
			for !stopped() {
				ctx, cancel := ctxT()
				c, err := put(w, ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), heads[i], thread, "keep", steps[i]+1)
				cancel()
				if err != nil {
					fail("writer %s step %d: %v (retention took the head?)", thread, steps[i]+1, err)
					return
				}
				heads[i] = c
				steps[i]++
				puts.Add(1)
			}
		})
	}
	wg.Go(func() { // a run DeleteForRuns deletes, heads included
		head := ckpt.Config{ThreadID: "d"}
		for n := 1; !stopped(); n++ {
			ctx, cancel := ctxT()
			c, err := put(w, ctx, head, "d", "doomed", n)
			cancel()
			switch {
			case err == nil:
				head = c
			case errors.Is(err, ckpt.ErrNotFound):
				head = ckpt.Config{ThreadID: "d"} // deleted: start again
			default:
				fail("doomed put: %v", err)
				return
			}
		}
	})
	wg.Go(func() { // threads that expire
		for n := 0; !stopped(); n++ {
			ctx, cancel := ctxT()
			_, err := put(ttl, ctx, ckpt.Config{ThreadID: fmt.Sprintf("e%d", n)}, fmt.Sprintf("e%d", n), "keep", 1)
			cancel()
			if err != nil {
				fail("ttl put: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Go(func() { // retention
		threads := []string{"w0", "w1", "w2"}
		for n := 0; !stopped(); n++ {
			ctx, cancel := ctxT()
			var err error
			switch n % 5 {
			case 0:
				err = ret.Prune(ctx, threads[n%3:n%3+1], ckpt.PruneKeepLatest)
			case 1:
				_, err = ret.KeepLast(ctx, threads, 2)
			case 2:
				err = ret.DeleteForRuns(ctx, []string{"doomed"})
			case 3:
				_, err = ret.SweepIndex(ctx)
			case 4:
				err = ret.CopyThread(ctx, threads[n%3], "copy-of-"+threads[n%3], ckpt.CopyOptions{Replace: true})
			}
			cancel()
			if err != nil {
				fail("retention call %d: %v", n%5, err)
				return
			}
			retained.Add(1)
		}
	})
	wg.Go(func() { // readers
		for n := 0; !stopped(); n++ {
			ctx, cancel := ctxT()
			opts := ckpt.ListOptions{}
			if n%2 == 1 {
				opts.ThreadID = fmt.Sprintf("w%d", n%3)
			}
			for tp, err := range rd.List(ctx, opts) {
				if err != nil {
					fail("List %+v: %v", opts, err)
					break
				}
				whole(tp)
				reads.Add(1)
			}
			tp, err := rd.GetTuple(ctx, ckpt.Config{ThreadID: fmt.Sprintf("copy-of-w%d", n%3)})
			if err == nil {
				whole(tp)
			} else if !errors.Is(err, ckpt.ErrNotFound) {
				fail("GetTuple copy: %v", err)
			}
			cancel()
		}
	})
	time.Sleep(run)
	close(stop)
	wg.Wait()
	if failed.Load() {
		return
	}
	for i, h := range heads {
		tp, err := rd.GetTuple(bg, ckpt.Config{ThreadID: h.ThreadID})
		if err != nil || tp.Config.CheckpointID != h.CheckpointID {
			t.Fatalf("writer %d: head %v (%v), want its last put %s", i, tp, err, h.CheckpointID)
		}
		whole(tp)
	}
	// At rest (and once the ttl threads are gone) the index holds exactly
	// the stored checkpoints.
	time.Sleep(200 * time.Millisecond)
	if _, err := rd.SweepIndex(bg); err != nil {
		t.Fatal(err)
	}
	rdb := rd.Client()
	idx, err := rdb.ZRange(bg, rd.keys.index(), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, m := range idx {
		thread, ns, id, err := parseIndexMember(rd.keys.index(), m)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := rdb.HExists(bg, rd.keys.thread(thread)[kCP], cpField(ns, id)).Result(); !ok {
			t.Fatalf("index entry of %s/%s names no checkpoint", thread, id)
		}
	}
	for _, th := range []string{"d", "w0", "w1", "w2", "copy-of-w0", "copy-of-w1", "copy-of-w2"} {
		n, _ := rdb.HLen(bg, rd.keys.thread(th)[kCP]).Result()
		stored += int(n)
	}
	if stored != len(idx) {
		t.Fatalf("index holds %d entries, the threads %d checkpoints", len(idx), stored)
	}
	t.Logf("%v: %d puts, %d retention calls, %d tuples read, %d checkpoints at rest", run, puts.Load(), retained.Load(), reads.Load(), stored)
}
