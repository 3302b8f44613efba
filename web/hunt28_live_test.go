package web_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestPagesBesideWritersGCAndCompact: the browser mounted in a program
// whose 16 writers save while GC, Compact and DeleteThread run. Every page
// answers 200, or 404 for a checkpoint or thread removed meanwhile; never
// 500. A checkpoint's page shows exactly the state saved under its id:
// its list holds its own step's items and none of a later step's.
func TestPagesBesideWritersGCAndCompact(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "live.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	type saved struct {
		thread string
		step   int
	}
	var mu sync.Mutex
	var ids []string
	at := map[string]saved{}
	const writers, rounds = 16, 40
	done := make(chan struct{}) // the reader has made its rounds
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			thread := fmt.Sprintf("w%d", w)
			var items []any
			for n := 1; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				items = append(items, fmt.Sprintf("%s-s%d", thread, n))
				id, err := s.Save(ctx, thread, map[string]any{"items": items, "step": n}, ckpt.Metadata{"step": n, "node": fmt.Sprintf("%s-n%d", thread, n)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				at[id] = saved{thread, n}
				mu.Unlock()
			}
		})
	}
	maint := make(chan error, 1)
	go func() {
		defer close(maint)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = s.GC(ctx, ckpt.Policy{KeepLast: 5})
			case 1:
				_, err = s.Compact(ctx, nil)
			case 2:
				err = s.DeleteThread(ctx, fmt.Sprintf("w%d", i%writers))
			}
			if err != nil {
				maint <- err
				return
			}
		}
	}()
	on := newClient(t, web.Handler(s, web.Options{MaxCPUShare: 1, InlineLimit: 1 << 20}))
	rng := rand.New(rand.NewPCG(28, 16))
	checked := 0
	get := func(path string) (int, string) {
		code, page := on.get(path)
		if code != 200 && code != 404 {
			t.Fatalf("%s beside writers and maintenance: %d\n%s", path, code, errorText(page))
		}
		return code, page
	}
	for len(recent(&mu, &ids)) == 0 {
		runtime.Gosched()
	}
	for range rounds {
		mu.Lock()
		r := ids[max(0, len(ids)-64):] // the newest: GC keeps 5 a thread
		id, id2 := r[rng.IntN(len(r))], r[rng.IntN(len(r))]
		sv, sv2 := at[id], at[id2]
		mu.Unlock()
		get("/")
		get("/stats")
		get("/thread" + q("t", sv.thread))
		get("/head" + q("t", sv.thread))
		if sv2.thread == sv.thread {
			get("/diff" + q("t", sv.thread, "a", id, "b", id2))
		}
		code, page := get("/checkpoint" + q("t", sv.thread, "id", id))
		if code != 200 {
			continue
		}
		checked++
		own := fmt.Sprintf("%s-s%d&#34;", sv.thread, sv.step)
		later := fmt.Sprintf("%s-s%d&#34;", sv.thread, sv.step+1)
		node := fmt.Sprintf("%s-n%d&#34;", sv.thread, sv.step)
		if !strings.Contains(page, own) || strings.Contains(page, later) || !strings.Contains(page, node) {
			t.Fatalf("checkpoint %s (%s step %d): the page does not show that state", id, sv.thread, sv.step)
		}
	}
	close(done)
	wg.Wait()
	if err := <-maint; err != nil {
		t.Fatalf("maintenance: %v", err)
	}
	if checked < rounds/4 {
		t.Fatalf("%d of %d checkpoint pages found their checkpoint", checked, rounds)
	}
	t.Logf("%d rounds, %d checkpoint pages checked", rounds, checked)
}

// recent returns the ids saved so far.
func recent(mu *sync.Mutex, ids *[]string) []string {
	mu.Lock()
	defer mu.Unlock()
	return *ids
}
