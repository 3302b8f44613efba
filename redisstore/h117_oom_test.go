package redisstore

// h117-hunt: Redis at maxmemory with noeviction refuses a script's first
// write (and only the first: Redis lets a script that has written go on),
// so a put, pending-writes call or copy refused for memory writes nothing.
// Retention deletes, which Redis allows at maxmemory, so KeepLast frees
// room and puts go on. Every checkpoint stored is whole.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
)

func TestH117OutOfMemoryWritesNothingHalf(t *testing.T) {
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir(), "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{Prefix: "oom"})
	big := strings.Repeat("x", 20000)
	put := func(c ckpt.Config, n int) (ckpt.Config, error) {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		return s.PutFull(ctx, c, ckpt.Checkpoint{ChannelValues: map[string]any{"v": big, "n": n}, ChannelVersions: map[string]string{"v": fmt.Sprint(n), "n": fmt.Sprint(n)}},
			ckpt.Metadata{"n": n}, map[string]string{"v": fmt.Sprint(n), "n": fmt.Sprint(n)},
			[]ckpt.TaskWrites{{TaskID: "t", Writes: []ckpt.Write{{Channel: "w", Value: n}}}})
	}
	whole := func() int {
		n := 0
		for tp, err := range s.List(bg, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			var v string
			if err := tp.Decode("v", &v); err != nil || v != big || len(tp.PendingWrites) != 1 {
				t.Fatalf("%+v not whole: %v, %d writes", tp.Config, err, len(tp.PendingWrites))
			}
			n++
		}
		return n
	}
	c := ckpt.Config{ThreadID: "t0"}
	acked, refused := 0, 0
	for n := 1; n <= 300 && refused < 20; n++ {
		nc, err := put(c, n)
		if err != nil {
			if !strings.Contains(err.Error(), "OOM") || !errors.Is(err, ErrOutOfMemory) || !errors.Is(err, ckpt.ErrDiskFull) {
				t.Fatalf("put %d: %v, want Redis's OOM refusal as ErrOutOfMemory and ckpt.ErrDiskFull", n, err)
			}
			refused++
			continue
		}
		c = nc
		acked++
	}
	if refused == 0 {
		t.Fatal("maxmemory never reached")
	}
	if got := whole(); got != acked {
		t.Fatalf("%d checkpoints stored, %d puts acknowledged (a refused put left one?)", got, acked)
	}
	before, err := s.Client().HLen(bg, s.keys.thread("t0")[kWrites]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w2", Value: strings.Repeat("y", 50000)}}, "t2", ""); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("a 50 kB pending write at maxmemory: %v, want ErrOutOfMemory", err)
	}
	if err := s.CopyThread(bg, "t0", "t1", ckpt.CopyOptions{}); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("a copy at maxmemory: %v, want ErrOutOfMemory", err)
	}
	if after, _ := s.Client().HLen(bg, s.keys.thread("t0")[kWrites]).Result(); after != before {
		t.Fatalf("refused PutWrites: %d writes stored, %d before", after, before)
	}
	if n, _ := s.Client().Exists(bg, s.keys.thread("t1")[:nThreadKinds]...).Result(); n != 0 {
		t.Fatalf("refused copy left %d keys of the destination", n)
	}
	// Retention works at maxmemory, and frees room for the next put.
	if _, err := s.KeepLast(bg, []string{"t0"}, 3); err != nil {
		t.Fatalf("KeepLast at maxmemory: %v", err)
	}
	if _, err := put(c, 1000); err != nil {
		t.Fatalf("put after KeepLast freed room: %v", err)
	}
	if got := whole(); got != 4 {
		t.Fatalf("%d checkpoints after KeepLast 3 and a put, want 4", got)
	}
	t.Logf("%d puts acknowledged, %d refused for memory", acked, refused)
}
