package einockpt_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
	einockpt "github.com/ckpt-go/ckpt/integrations/eino"
	"github.com/cloudwego/eino/adk"
	"github.com/cloudwego/eino/compose"
)

// The interfaces eino asks for, checked at compile time.
var (
	_ compose.CheckPointStore = (*einockpt.CheckPointStore)(nil)
	_ adk.CheckPointStore     = (*einockpt.CheckPointStore)(nil)
	_ interface {
		Delete(ctx context.Context, checkPointID string) error
	} = (*einockpt.CheckPointStore)(nil)
)

func TestGetUnknownIDIsAbsentNotAnError(t *testing.T) {
	cs := einockpt.New(newStoreFile(t).store)
	data, ok, err := cs.Get(ctx, "never-set")
	if err != nil || ok || data != nil {
		t.Fatalf("Get = %q, %v, %v; want nil, false, nil", data, ok, err)
	}
}

func TestSetGetReturnsNewestBytes(t *testing.T) {
	cs := einockpt.New(newStoreFile(t).store)
	for _, v := range []string{"one", "two", ""} {
		if err := cs.Set(ctx, "id", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, ok, err := cs.Get(ctx, "id")
		if err != nil || !ok || string(got) != v {
			t.Fatalf("Get after Set(%q) = %q, %v, %v", v, got, ok, err)
		}
	}
}

func TestDeleteRemovesHistoryAndIsIdempotent(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	for i := range 3 {
		if err := cs.Set(ctx, "id", fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.Set(ctx, "other", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := cs.Delete(ctx, "id"); err != nil {
		t.Fatal(err)
	}
	if h := history(t, f.store, cs, "id"); len(h) != 0 {
		t.Fatalf("%d checkpoints left after Delete", len(h))
	}
	if err := cs.Delete(ctx, "id"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if got, ok, err := cs.Get(ctx, "other"); err != nil || !ok || string(got) != "kept" {
		t.Fatalf("Delete touched another id: Get = %q, %v, %v", got, ok, err)
	}
}

func TestCompleteDeletesOnlyWithDeleteOnComplete(t *testing.T) {
	f := newStoreFile(t)
	keep := einockpt.New(f.store)
	del := einockpt.New(f.store, einockpt.DeleteOnComplete())
	for _, cs := range []*einockpt.CheckPointStore{keep, del} {
		if err := cs.Set(ctx, "id", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := cs.Complete(ctx, "id"); err != nil {
			t.Fatal(err)
		}
		_, ok, err := cs.Get(ctx, "id")
		if err != nil || ok != (cs == keep) {
			t.Fatalf("after Complete Get ok = %v, err %v (DeleteOnComplete: %v)", ok, err, cs == del)
		}
	}
}

func TestThreadPrefixKeepsIDsApart(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.WithThreadPrefix("eino/"))
	if err := cs.Set(ctx, "chat", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if cs.ThreadID("chat") != "eino/chat" {
		t.Fatalf("ThreadID = %q", cs.ThreadID("chat"))
	}
	if _, err := f.store.Latest(ctx, "eino/chat"); err != nil {
		t.Fatalf("thread eino/chat: %v", err)
	}
	if _, err := f.store.Latest(ctx, "chat"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("unprefixed thread: %v, want ErrNotFound", err)
	}
}

func TestGetOnThreadNotWrittenByEinoIsErrForeignThread(t *testing.T) {
	f := newStoreFile(t)
	if _, err := f.store.Save(ctx, "shared", map[string]any{"messages": []string{"hi"}}, nil); err != nil {
		t.Fatal(err)
	}
	cs := einockpt.New(f.store)
	if _, _, err := cs.Get(ctx, "shared"); !errors.Is(err, einockpt.ErrForeignThread) {
		t.Fatalf("Get = %v, want ErrForeignThread", err)
	}
}

func TestBadIDAndClosedStoreAreCkptErrors(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	long := strings.Repeat("x", ckpt.MaxThreadIDLen+1)
	for name, call := range map[string]func() error{
		"Set empty":    func() error { return cs.Set(ctx, "", []byte("x")) },
		"Set too long": func() error { return cs.Set(ctx, long, []byte("x")) },
		"Get empty":    func() error { _, _, err := cs.Get(ctx, ""); return err },
		"Delete empty": func() error { return cs.Delete(ctx, "") },
	} {
		if err := call(); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if err := cs.Set(ctx, "id", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	store := f.restart()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	cs = einockpt.New(store)
	if err := cs.Set(ctx, "id", []byte("lost")); !errors.Is(err, ckpt.ErrClosed) {
		t.Errorf("Set on closed store: %v, want ErrClosed", err)
	}
	if _, _, err := cs.Get(ctx, "id"); !errors.Is(err, ckpt.ErrClosed) {
		t.Errorf("Get on closed store: %v, want ErrClosed", err)
	}
	cs = einockpt.New(f.open())
	if got, ok, err := cs.Get(ctx, "id"); err != nil || !ok || string(got) != "kept" {
		t.Fatalf("after failed writes Get = %q, %v, %v; want the earlier checkpoint", got, ok, err)
	}
}

func TestConcurrentSetsOnOneIDNumberStepsWithoutGaps(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- cs.Set(ctx, "id", fmt.Appendf(nil, "v%d", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var steps []int
	for _, snap := range history(t, f.store, cs, "id") {
		for want := range int64(n) {
			if isInt(snap.Metadata[einockpt.MetaStep], want) {
				steps = append(steps, int(want))
			}
		}
	}
	sort.Ints(steps)
	for i, s := range steps {
		if s != i {
			t.Fatalf("steps %v, want 0..%d each once", steps, n-1)
		}
	}
	if len(steps) != n {
		t.Fatalf("steps %v, want %d of them", steps, n)
	}
}

// BenchmarkSet measures one eino checkpoint of 1 KiB (the size of a small
// graph's) appended per op, fsync'd (ckpt's default durability).
func BenchmarkSet(b *testing.B) {
	store, err := ckpt.Open(b.TempDir()+"/bench.db", ckpt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cs := einockpt.New(store)
	data := make([]byte, 1024)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		data[0] = byte(i) // a new checkpoint each time, as eino's would be
		if err := cs.Set(ctx, "id", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures reading the newest of 100 checkpoints of an id.
func BenchmarkGet(b *testing.B) {
	store, err := ckpt.Open(b.TempDir()+"/bench.db", ckpt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cs := einockpt.New(store)
	data := make([]byte, 1024)
	for i := range 100 {
		data[0] = byte(i)
		if err := cs.Set(ctx, "id", data); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, ok, err := cs.Get(ctx, "id"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
