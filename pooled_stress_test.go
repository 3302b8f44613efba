package ckpt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// A model of acknowledged state against pooled reads (internal/engine/pool.go)
// while everything that ends, swaps or outdates them runs beside: Sync and
// NoSync saves, deletes and re-creates of the same thread names, the
// background applier, GC, Compact's swap and backups.
//
// Each thread has one writer (Sync, NoSync or Async). Its k-th step (k from 1) is a delete when
// k%stressDeleteEvery == 0 and otherwise a checkpoint whose channel and
// metadata both hold k, child of the previous one since the last delete.
// A read is checked against the steps acknowledged before it began (acked;
// an Async step once a Flush after it returned)
// and begun before it ended (started): it must show the state after some
// step k with acked <= k <= started (never older than what was
// acknowledged, never something not written), the checkpoint's channel
// and metadata must agree (no mixed states), and a List of the thread must
// show checkpoints of k's lineage only (none from before the last delete).
const stressDeleteEvery = 7

type stressThread struct {
	name    string
	acked   atomic.Int64 // the last step acknowledged
	started atomic.Int64 // the last step begun
}

// shown returns the step a read shows: -1 for no checkpoint.
func (th *stressThread) check(tup *Tuple, err error, acked, started int64) error {
	if errors.Is(err, ErrNotFound) {
		// Deleted at some step in [acked, started], or never written.
		if acked == 0 {
			return nil
		}
		for k := acked; k <= started; k++ {
			if k%stressDeleteEvery == 0 {
				return nil
			}
		}
		return fmt.Errorf("%s: not found, but steps %d..%d hold no delete", th.name, acked, started)
	}
	if err != nil {
		return err
	}
	var n int64
	if err := tup.Decode("n", &n); err != nil {
		return fmt.Errorf("%s: %w", th.name, err)
	}
	if n < acked || n > started {
		return fmt.Errorf("%s: read step %d, want one of %d..%d", th.name, n, acked, started)
	}
	if n%stressDeleteEvery == 0 {
		return fmt.Errorf("%s: read step %d as a checkpoint, but it was a delete", th.name, n)
	}
	if step := fmt.Sprint(tup.Metadata["step"]); step != strconv.FormatInt(n, 10) {
		return fmt.Errorf("%s: checkpoint of step %d with the metadata of step %s", th.name, n, step)
	}
	return nil
}

func TestPooledReadsAgainstModel(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("stress")
	}
	dur := 2 * time.Second
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	threads := make([]*stressThread, 6)
	for i := range threads {
		threads[i] = &stressThread{name: "t" + strconv.Itoa(i)}
	}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var writers, others sync.WaitGroup
	fail := func(err error) {
		t.Error(err)
	}
	for i, th := range threads {
		writers.Go(func() {
			wctx := ctx
			async := false
			switch i % 3 {
			case 1:
				// NoSync: a group goes straight into the shared overlay
				// when nothing waits ahead of it.
				wctx = WithWriteOptions(ctx, WriteOptions{Durability: NoSync})
			case 2:
				// Async: a delete and the re-create after it often share
				// a group. Acknowledged once a Flush returns.
				wctx, async = WithWriteOptions(ctx, WriteOptions{Durability: Async}), true
			}
			parent := ""
			for k := int64(1); !stopped(); k++ {
				th.started.Store(k)
				if k%stressDeleteEvery == 0 {
					if err := s.DeleteThread(wctx, th.name); err != nil {
						fail(err)
						return
					}
					parent = ""
				} else {
					ver := strconv.FormatInt(k, 10)
					cp := Checkpoint{V: 4, ChannelValues: map[string]any{"n": k}, ChannelVersions: map[string]string{"n": ver}}
					cfg, err := s.PutFull(wctx, Config{ThreadID: th.name, CheckpointID: parent}, cp, Metadata{"step": k}, map[string]string{"n": ver}, nil)
					if err != nil {
						fail(err)
						return
					}
					parent = cfg.CheckpointID
				}
				if async {
					if k%3 != 0 {
						continue
					}
					if err := s.Flush(ctx); err != nil {
						fail(err)
						return
					}
				}
				th.acked.Store(k)
			}
		})
	}
	var reads atomic.Int64
	for r := range 4 {
		others.Go(func() {
			for i := r; !stopped(); i++ {
				th := threads[i%len(threads)]
				acked := th.acked.Load()
				if i%5 == 0 {
					// A list: newest first, all of one lineage.
					last := int64(-1)
					for tup, err := range s.List(ctx, ListOptions{ThreadID: th.name}) {
						if err != nil {
							fail(err)
							return
						}
						var n int64
						if err := tup.Decode("n", &n); err != nil {
							fail(err)
							return
						}
						if last == -1 {
							if started := th.started.Load(); n < acked || n > started {
								fail(fmt.Errorf("%s: list's newest is step %d, want one of %d..%d", th.name, n, acked, started))
								return
							}
						} else if n >= last || n <= last-last%stressDeleteEvery {
							fail(fmt.Errorf("%s: list shows step %d after step %d (the lineage since step %d)", th.name, n, last, last-last%stressDeleteEvery))
							return
						}
						last = n
					}
				} else {
					tup, err := s.GetTuple(ctx, Config{ThreadID: th.name})
					if err := th.check(tup, err, acked, th.started.Load()); err != nil {
						fail(err)
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	// The rest that ends, swaps or outdates pooled reads.
	others.Go(func() {
		for !stopped() {
			if _, err := s.GC(ctx, Policy{KeepLast: 3}); err != nil {
				fail(fmt.Errorf("gc: %w", err))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	others.Go(func() {
		for !stopped() {
			if _, err := s.Compact(ctx, nil); err != nil {
				fail(fmt.Errorf("compact: %w", err))
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	others.Go(func() {
		for !stopped() {
			if err := s.Backup(ctx, io.Discard); err != nil {
				fail(fmt.Errorf("backup: %w", err))
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	})
	time.Sleep(dur)
	close(stop)
	writers.Wait()
	others.Wait()
	if reads.Load() == 0 {
		t.Fatal("no read ran")
	}
	t.Logf("%d reads", reads.Load())
}

// A failed log fsync while NoSync groups wait behind the Sync group it was
// for (commit.go: they wait in flight, read by the next groups through
// their trees, and the ones with nothing ahead go straight into the shared
// overlay): no reader, pooled or not, ever sees a save whose call then
// fails, not even for a moment before the failure is reported; every
// acknowledged save stays readable.
func TestFailedFsyncWithNoSyncBehindShowsNothingOfIt(t *testing.T) {
	t.Parallel()
	const writers, saves = 6, 30
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 29))
			failAt := int64(10 + rng.IntN(20))
			var calls atomic.Int64
			syncLog := func(f *os.File) error {
				if calls.Add(1) == failAt {
					time.Sleep(20 * time.Millisecond) // NoSync groups pile up behind, readers look
					return errors.New("disk on fire")
				}
				return engine.Fdatasync(f)
			}
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: syncLog}}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			o := &saveOutcomes{ok: map[string]bool{}, failed: map[string]bool{}}
			var seenMu sync.Mutex
			seen := map[string]bool{}
			stop := make(chan struct{})
			var readers, wg sync.WaitGroup
			for r := range 3 {
				readers.Go(func() {
					for i := r; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						tup, err := s.GetTuple(ctx, Config{ThreadID: fmt.Sprintf("w%d", i%writers)})
						if errors.Is(err, ErrNotFound) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						seenMu.Lock()
						seen[fmt.Sprint(tup.Metadata["tag"])] = true
						seenMu.Unlock()
					}
				})
			}
			for w := range writers {
				wg.Go(func() {
					wctx := ctx
					if w%3 != 0 {
						wctx = WithWriteOptions(ctx, WriteOptions{Durability: NoSync})
					}
					for n := range saves {
						tag := fmt.Sprintf("%d/%d", w, n)
						_, err := s.Save(wctx, fmt.Sprintf("w%d", w), map[string]any{"n": n}, Metadata{"tag": tag})
						if err != nil && !errors.Is(err, ErrFailed) {
							t.Errorf("save %s: %v, want an error wrapping ErrFailed", tag, err)
						}
						o.note(tag, err)
					}
				})
			}
			wg.Wait()
			close(stop)
			readers.Wait()
			if len(o.failed) == 0 {
				t.Fatalf("no save failed (fsync %d of %d failed)", failAt, calls.Load())
			}
			t.Logf("failed %d ok %d seen %d", len(o.failed), len(o.ok), len(seen))
			for tag := range seen {
				if o.failed[tag] {
					t.Errorf("a reader saw save %s, whose call then failed", tag)
				}
			}
			o.check(t, s, writers, "before close")
		})
	}
}

// Close while readers hold and reuse pooled reads, writers save and a
// Compact may be swapping the file: Close returns (bbolt's Close waits for
// every read transaction, so a pooled one left open would hang it), every
// call after it fails with ErrClosed, and a reopen holds every
// acknowledged Sync save.
func TestCloseRacesPooledReads(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var acked [4]atomic.Int64
			var wg sync.WaitGroup
			for w := range acked {
				wg.Go(func() {
					for n := int64(1); ; n++ {
						_, err := s.Save(ctx, fmt.Sprintf("w%d", w), map[string]any{"n": n}, Metadata{"n": n})
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil {
							t.Errorf("save: %v", err)
							return
						}
						acked[w].Store(n)
					}
				})
			}
			for r := range 4 {
				wg.Go(func() {
					for i := r; ; i++ {
						_, err := s.GetTuple(ctx, Config{ThreadID: fmt.Sprintf("w%d", i%len(acked))})
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil && !errors.Is(err, ErrNotFound) {
							t.Errorf("read: %v", err)
							return
						}
					}
				})
			}
			wg.Go(func() {
				for {
					if _, err := s.Compact(ctx, nil); errors.Is(err, ErrClosed) {
						return
					} else if err != nil {
						t.Errorf("compact: %v", err)
						return
					}
				}
			})
			time.Sleep(time.Duration(50+50*round) * time.Millisecond)
			closeWithin(t, s)
			wg.Wait()
			r, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(t, r) // after reads, which leave a pooled one idle
			for w := range acked {
				want := acked[w].Load()
				if want == 0 {
					continue
				}
				tup, err := r.GetTuple(ctx, Config{ThreadID: fmt.Sprintf("w%d", w)})
				if err != nil {
					t.Fatalf("w%d after reopen: %v", w, err)
				}
				if n := fmt.Sprint(tup.Metadata["n"]); n != fmt.Sprint(want) && n != fmt.Sprint(want+1) {
					t.Errorf("w%d after reopen: newest save %s, want %d (or the one in flight at Close)", w, n, want)
				}
			}
		})
	}
}

// closeWithin closes s, failing t if Close does not return soon.
func closeWithin(t *testing.T, s *Store) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
}
