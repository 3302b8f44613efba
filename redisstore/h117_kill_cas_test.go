package redisstore

// h117-hunt: several workers, each with its own client, race IfHead puts
// on one thread (PutFull: a checkpoint and its pending write) while
// CopyThread copies the thread beside them and AOF rewrites run, and
// redis-server (appendfsync always) is SIGKILLed. After each restart: the thread is one chain (each
// checkpoint's parent is the one listed after it: no fork), every
// acknowledged put is there with exactly its bytes, metadata, parent and
// pending write, and the copy is a whole chain of the source's checkpoints.

import (
	"bytes"
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

type h117Acked struct {
	cfg    ckpt.Config
	parent string
	by, k  int
}

func h117Values(by, k int) map[string]any {
	return map[string]any{"by": by, "k": k, "blob": bytes.Repeat([]byte{byte(by), byte(k)}, 64+k%200)}
}

// h117Check checks that tp is a whole checkpoint of the race: its values
// the exact bytes its metadata names, its pending write its own.
func h117Check(t *testing.T, tp *ckpt.Tuple) (by, k int) {
	t.Helper()
	b, ok1 := tp.Metadata["by"]
	kk, ok2 := tp.Metadata["k"]
	if !ok1 || !ok2 {
		t.Fatalf("%+v: metadata %v", tp.Config, tp.Metadata)
	}
	by, _ = strconv.Atoi(fmt.Sprint(b))
	k, _ = strconv.Atoi(fmt.Sprint(kk))
	for ch, v := range h117Values(by, k) {
		want, err := ckpt.EncodeValue(ch, v)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tp.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if !bytes.Equal(got, want) {
			t.Fatalf("%+v (worker %d put %d): channel %s holds %x, want %x", tp.Config, by, k, ch, got, want)
		}
	}
	if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].TaskID != fmt.Sprint("w", by) {
		t.Fatalf("%+v (worker %d put %d): pending writes %+v", tp.Config, by, k, tp.PendingWrites)
	}
	var w string
	if err := tp.PendingWrites[0].Value.Decode(&w); err != nil || w != fmt.Sprintf("w%d k%d", by, k) {
		t.Fatalf("%+v: pending write %q (%v)", tp.Config, w, err)
	}
	return by, k
}

// h117Chain lists a thread and checks it is one whole chain; it returns
// the tuples newest first.
func h117Chain(t *testing.T, s *Store, thread string) []*ckpt.Tuple {
	t.Helper()
	var out []*ckpt.Tuple
	for tp, err := range s.List(bg, ckpt.ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatalf("List %s: %v", thread, err)
		}
		h117Check(t, tp)
		out = append(out, tp)
	}
	for i, tp := range out {
		if i+1 < len(out) {
			if tp.ParentConfig == nil || tp.ParentConfig.CheckpointID != out[i+1].Config.CheckpointID {
				t.Fatalf("%s: %s's parent is %+v, the checkpoint before it %s: a fork", thread, tp.Config.CheckpointID, tp.ParentConfig, out[i+1].Config.CheckpointID)
			}
		} else if tp.ParentConfig != nil {
			t.Fatalf("%s: the oldest checkpoint has parent %+v", thread, tp.ParentConfig)
		}
	}
	return out
}

func TestH117KilledWhileWorkersRaceIfHead(t *testing.T) {
	srv, rounds := killHunt(t, 4)
	const workers = 4
	const thread = "cas"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 117))
	var acked []h117Acked
	k := 0 // put counter, across rounds
	conflicts, cut, copies, totalRewrites := 0, 0, 0, 0
	for round := range rounds {
		opts := Options{Prefix: "h117", Redis: &redis.Options{MaxRetries: 1, DialerRetries: 1}}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range workers {
			s := newTestStore(t, srv, opts)
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(bg, 2*time.Second)
					head := ckpt.Config{ThreadID: thread}
					tp, err := s.GetTuple(ctx, head)
					if err == nil {
						head = tp.Config
					} else if !errors.Is(err, ckpt.ErrNotFound) {
						cancel()
						return // the kill
					}
					mu.Lock()
					k++
					mine := k
					mu.Unlock()
					vals := h117Values(w, mine)
					nv := map[string]string{"by": fmt.Sprint(w, ".", mine), "k": fmt.Sprint(mine), "blob": fmt.Sprint(w, ".", mine)}
					c, err := s.PutFull(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), head,
						ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: nv}, ckpt.Metadata{"by": w, "k": mine}, nv,
						[]ckpt.TaskWrites{{TaskID: fmt.Sprint("w", w), Writes: []ckpt.Write{{Channel: "out", Value: fmt.Sprintf("w%d k%d", w, mine)}}}})
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						acked = append(acked, h117Acked{c, head.CheckpointID, w, mine})
					case errors.Is(err, ckpt.ErrConflict):
						conflicts++
					default:
						errs = append(errs, err)
						cut++
					}
					mu.Unlock()
					if err != nil && !errors.Is(err, ckpt.ErrConflict) {
						return
					}
				}
			})
		}
		rewrites := 0
		wg.Go(func() { // AOF rewrites beside the writes: the kill may land in one
			admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
			defer admin.Close()
			for {
				select {
				case <-stop:
					return
				case <-time.After(15 * time.Millisecond):
				}
				if admin.BgRewriteAOF(bg).Err() == nil {
					rewrites++
				}
			}
		})
		cs := newTestStore(t, srv, opts)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(bg, 2*time.Second)
				err := cs.CopyThread(ctx, thread, "copy", ckpt.CopyOptions{Replace: true})
				cancel()
				mu.Lock()
				if err == nil {
					copies++
				} else if !errors.Is(err, ckpt.ErrNotFound) {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil && !errors.Is(err, ckpt.ErrNotFound) {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		srv.Kill()
		close(stop)
		wg.Wait()
		for _, err := range errs {
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d: a call cut off by the kill failed with %v, want ErrUnavailable", round, err)
			}
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		s2 := newTestStore(t, srv, Options{Prefix: "h117"})
		chain := h117Chain(t, s2, thread)
		byID := map[string]*ckpt.Tuple{}
		for _, tp := range chain {
			byID[tp.Config.CheckpointID] = tp
		}
		for _, a := range acked {
			tp, ok := byID[a.cfg.CheckpointID]
			if !ok {
				t.Fatalf("round %d: acknowledged put %d of worker %d (%s) lost", round, a.k, a.by, a.cfg.CheckpointID)
			}
			by, kk := h117Check(t, tp)
			parent := ""
			if tp.ParentConfig != nil {
				parent = tp.ParentConfig.CheckpointID
			}
			if by != a.by || kk != a.k || parent != a.parent {
				t.Fatalf("round %d: %s holds worker %d put %d on %q, acknowledged as worker %d put %d on %q", round, a.cfg.CheckpointID, by, kk, parent, a.by, a.k, a.parent)
			}
		}
		if len(chain) > len(acked)+cut {
			t.Fatalf("round %d: %d checkpoints for %d acknowledged puts and %d cut off", round, len(chain), len(acked), cut)
		}
		for _, tp := range h117Chain(t, s2, "copy") {
			src, ok := byID[tp.Config.CheckpointID]
			if !ok {
				t.Fatalf("round %d: copy holds %s, not in the source", round, tp.Config.CheckpointID)
			}
			if fmt.Sprint(src.Checkpoint.ChannelValues, src.Metadata) != fmt.Sprint(tp.Checkpoint.ChannelValues, tp.Metadata) {
				t.Fatalf("round %d: copy of %s differs", round, tp.Config.CheckpointID)
			}
		}
		_ = s2.Close()
		totalRewrites += rewrites
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
	t.Logf("%d rounds: %d acknowledged puts checked, %d conflicts, %d calls cut off, %d copies, %d AOF rewrites started", rounds, len(acked), conflicts, cut, copies, totalRewrites)
}
