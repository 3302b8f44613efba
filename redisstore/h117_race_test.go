package redisstore

// h117-hunt: workers with their own clients race on one thread, each
// storing its own bytes under the same new (channel, version), with and
// without WriteOptions.IfHead. Each step exactly one wins; every loser
// fails with ErrConflict (IfHead) or ErrVersionReused and leaves nothing:
// no checkpoint, no pending write, the winner's bytes under the version.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestH117RacingWorkersOneWinnerPerStep(t *testing.T) {
	srv := sharedServer(t)
	rounds := 60
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		rounds = v * 15
	}
	const workers = 6
	stores := make([]*Store, workers)
	stores[0] = newTestStore(t, srv, Options{})
	for i := 1; i < workers; i++ {
		stores[i] = newTestStore(t, srv, Options{Prefix: stores[0].keys.prefix})
	}
	const thread = "race"
	head := ckpt.Config{ThreadID: thread}
	conflicts, reused := 0, 0
	for round := 1; round <= rounds; round++ {
		cas := round%2 == 0
		ver := strconv.Itoa(round)
		errs := make([]error, workers)
		cfgs := make([]ckpt.Config, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w, s := range stores {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(bg, 5*time.Second)
				defer cancel()
				if cas {
					ctx = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
				}
				mine := fmt.Sprintf("worker %d round %d", w, round)
				<-start
				cfgs[w], errs[w] = s.PutFull(ctx, head,
					ckpt.Checkpoint{ChannelValues: map[string]any{"v": mine}, ChannelVersions: map[string]string{"v": ver}},
					ckpt.Metadata{"w": w}, map[string]string{"v": ver},
					[]ckpt.TaskWrites{{TaskID: fmt.Sprint("task", w), Writes: []ckpt.Write{{Channel: "out", Value: mine}}}})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d (IfHead %v): workers %d and %d both won", round, cas, winner, w)
				}
				winner = w
			case cas && errors.Is(err, ckpt.ErrConflict):
				conflicts++
			case errors.Is(err, ckpt.ErrVersionReused):
				reused++
			default:
				t.Fatalf("round %d (IfHead %v): worker %d: %v", round, cas, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won: %v", round, errs)
		}
		want := fmt.Sprintf("worker %d round %d", winner, round)
		n := 0
		for tp, err := range stores[0].List(bg, ckpt.ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				var v string
				if tp.Config.CheckpointID != cfgs[winner].CheckpointID || tp.Decode("v", &v) != nil || v != want ||
					fmt.Sprint(tp.Metadata["w"]) != fmt.Sprint(winner) || len(tp.PendingWrites) != 1 || tp.PendingWrites[0].TaskID != fmt.Sprint("task", winner) {
					t.Fatalf("round %d: head %+v holds %q, metadata %v, writes %+v; want worker %d's", round, tp.Config, v, tp.Metadata, tp.PendingWrites, winner)
				}
				if round > 1 && (tp.ParentConfig == nil || tp.ParentConfig.CheckpointID != head.CheckpointID) {
					t.Fatalf("round %d: head's parent %+v, want %s", round, tp.ParentConfig, head.CheckpointID)
				}
			}
			n++
		}
		if n != round {
			t.Fatalf("round %d: the thread holds %d checkpoints (a loser's put left one, or a fork)", round, n)
		}
		if got := hlen(t, stores[0], thread, kWrites); got != int64(round) {
			t.Fatalf("round %d: %d pending writes stored, want one a round", round, got)
		}
		head = cfgs[winner]
	}
	t.Logf("%d rounds x %d workers: %d conflicts, %d version reuses refused", rounds, workers, conflicts, reused)
}
