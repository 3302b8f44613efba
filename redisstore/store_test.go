package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"
)

var bg = context.Background()

func step(t *testing.T, s *Store, parent ckpt.Config, n int) ckpt.Config {
	t.Helper()
	cp := ckpt.Checkpoint{
		ChannelValues:   map[string]any{"count": n, "const": "same"},
		ChannelVersions: map[string]string{"count": fmt.Sprint(n), "const": "1"},
	}
	nv := map[string]string{"count": fmt.Sprint(n)}
	if n == 1 {
		nv["const"] = "1"
	}
	c, err := s.Put(bg, parent, cp, ckpt.Metadata{"step": n}, nv)
	if err != nil {
		t.Fatalf("put step %d: %v", n, err)
	}
	return c
}

func TestCompareAndSetTwoClientsExactlyOneWinsEachRound(t *testing.T) {
	srv := sharedServer(t)
	a := newTestStore(t, srv, Options{})
	b := newTestStore(t, srv, Options{Prefix: a.keys.prefix}) // a second client, as a second worker
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	const thread = "shared"
	for round := range 50 {
		var head ckpt.Config
		if tp, err := a.GetTuple(bg, ckpt.Config{ThreadID: thread}); err == nil {
			head = tp.Config
		} else if !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatal(err)
		} else {
			head = ckpt.Config{ThreadID: thread}
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Put(cas, head, ckpt.Checkpoint{}, ckpt.Metadata{"worker": i}, nil)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ckpt.ErrConflict):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners (%v), want exactly 1", round, wins, errs)
		}
	}
	n := 0
	for _, err := range a.List(bg, ckpt.ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("thread holds %d checkpoints, want 50 (one per round, no fork)", n)
	}
}

func TestGeneratedIDSortsAfterAHeadFromAClockAhead(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	ahead := ulid.MustNew(ulid.Timestamp(time.Now().Add(time.Hour)), ulid.DefaultEntropy()).String()
	first, err := s.Put(bg, ckpt.Config{ThreadID: "skew"}, ckpt.Checkpoint{ID: ahead}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second process has its own id source, which has not seen that id.
	other := newTestStore(t, sharedServer(t), Options{Prefix: s.keys.prefix})
	next, err := other.Put(bg, first, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.CheckpointID <= first.CheckpointID {
		t.Fatalf("generated id %s does not sort after head %s", next.CheckpointID, first.CheckpointID)
	}
	tp, err := s.GetTuple(bg, ckpt.Config{ThreadID: "skew"})
	if err != nil || tp.Config != next {
		t.Fatalf("latest = %+v, %v; want %+v", tp, err, next)
	}
}

func TestIfHeadWithoutParentNeedsAnEmptyNamespace(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	if _, err := s.Put(cas, ckpt.Config{ThreadID: "c"}, ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(cas, ckpt.Config{ThreadID: "c"}, ckpt.Checkpoint{}, nil, nil); !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("second first-checkpoint: %v, want ErrConflict", err)
	}
	if _, err := s.Put(cas, ckpt.Config{ThreadID: "c", CheckpointNS: "sub"}, ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("other namespace: %v", err)
	}
}

func TestPutFullEqualsPutThenPutWrites(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	cp := ckpt.Checkpoint{ChannelValues: map[string]any{"m": "x"}, ChannelVersions: map[string]string{"m": "1"}}
	tw := []ckpt.TaskWrites{{TaskID: "t1", TaskPath: "p", Writes: []ckpt.Write{{Channel: "m", Value: "w"}, {Channel: ckpt.ChannelError, Value: "e"}}}}
	full, err := s.PutFull(bg, ckpt.Config{ThreadID: "full"}, cp, ckpt.Metadata{"a": 1}, map[string]string{"m": "1"}, tw)
	if err != nil {
		t.Fatal(err)
	}
	sep, err := s.Put(bg, ckpt.Config{ThreadID: "sep"}, cp, ckpt.Metadata{"a": 1}, map[string]string{"m": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(bg, sep, tw[0].Writes, "t1", "p"); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetTuple(bg, full)
	b, _ := s.GetTuple(bg, sep)
	if !reflect.DeepEqual(a.PendingWrites, b.PendingWrites) || !reflect.DeepEqual(a.Checkpoint.ChannelValues, b.Checkpoint.ChannelValues) || len(a.PendingWrites) != 2 {
		t.Fatalf("PutFull %+v\nPut+PutWrites %+v", a, b)
	}
}

func TestRestartWithAOFAlwaysLosesNoAcknowledgedPut(t *testing.T) {
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{Prefix: "aof"})
	type acked struct {
		cfg ckpt.Config
		n   int
	}
	var done []acked
	parents := map[string]ckpt.Config{}
	for n := 1; n <= 60; n++ {
		thread := fmt.Sprintf("t%d", n%3)
		p := parents[thread]
		p.ThreadID = thread
		c := step(t, s, p, n)
		if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: n}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		parents[thread] = c
		done = append(done, acked{c, n})
	}
	srv.Kill() // SIGKILL: no shutdown save, only what the AOF holds
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	s2 := newTestStore(t, srv, Options{Prefix: "aof"})
	for _, a := range done {
		tp, err := s2.GetTuple(bg, a.cfg)
		if err != nil {
			t.Fatalf("acknowledged checkpoint %+v lost: %v", a.cfg, err)
		}
		var count, w int
		if err := tp.Decode("count", &count); err != nil || count != a.n {
			t.Fatalf("checkpoint %d: count %d, %v", a.n, count, err)
		}
		if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].Value.Decode(&w) != nil || w != a.n {
			t.Fatalf("checkpoint %d: writes %+v", a.n, tp.PendingWrites)
		}
	}
	// The first store's connections broke with the restart; it reconnects.
	if _, err := s.GetTuple(bg, done[0].cfg); err != nil {
		t.Fatalf("old client after restart: %v", err)
	}
}

func TestUnreachableRedisIsErrUnavailable(t *testing.T) {
	redistest.Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, err = New(bg, Options{Redis: &redis.Options{Addr: closed, MaxRetries: -1, DialerRetries: 1}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New on a closed port: %v, want ErrUnavailable", err)
	}

	srv, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, srv, Options{Redis: &redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1}})
	c := step(t, s, ckpt.Config{ThreadID: "u"}, 1)
	srv.Kill()
	if _, err := s.Put(bg, c, ckpt.Checkpoint{}, nil, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put with redis down: %v, want ErrUnavailable", err)
	}
	if _, err := s.GetTuple(bg, c); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get with redis down: %v, want ErrUnavailable", err)
	}
	for _, err := range s.List(bg, ckpt.ListOptions{}) {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("list with redis down: %v, want ErrUnavailable", err)
		}
	}
}

func TestContextDeadlineIsHonoured(t *testing.T) {
	srv := sharedServer(t)
	s := newTestStore(t, srv, Options{})
	c := step(t, s, ckpt.Config{ThreadID: "d"}, 1)
	// Another client pauses the server: our calls cannot get a reply
	// until the pause ends, 2 s on (the UNPAUSE below waits for it too:
	// the server pauses every client). A call that did not honour its
	// deadline would get its reply then, and no error; no duration is
	// measured, so a busy machine cannot fail the test.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Do(bg, "CLIENT", "PAUSE", 2000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	defer admin.Do(bg, "CLIENT", "UNPAUSE")
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	_, err := s.GetTuple(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestCorruptValuesNameTheKey(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	c := step(t, s, ckpt.Config{ThreadID: "bad"}, 1)
	keys := s.keys.thread("bad")
	rdb := s.Client()
	f := cpField("", c.CheckpointID)

	t.Run("metadata that does not decode", func(t *testing.T) {
		good, _ := rdb.HGet(bg, keys[kMD], f).Result()
		defer rdb.HSet(bg, keys[kMD], f, good)
		rdb.HSet(bg, keys[kMD], f, "\x01\xc1") // 0xc1 is never valid msgpack
		_, err := s.GetTuple(bg, c)
		var ce *CorruptError
		if !errors.Is(err, ckpt.ErrCorrupt) || !errors.As(err, &ce) || ce.Key != keys[kMD] || ce.Field != f {
			t.Fatalf("err = %v, want a CorruptError naming %q", err, keys[kMD])
		}
	})
	t.Run("checkpoint value cut short", func(t *testing.T) {
		c2 := step(t, s, c, 2)
		f2 := cpField("", c2.CheckpointID)
		good, _ := rdb.HGet(bg, keys[kCP], f2).Result()
		defer rdb.HSet(bg, keys[kCP], f2, good)
		rdb.HSet(bg, keys[kCP], f2, good[:3])
		_, err := s.GetTuple(bg, ckpt.Config{ThreadID: "bad"})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Key != keys[kCP] || ce.Field != f2 {
			t.Fatalf("err = %v, want a CorruptError naming %q", err, keys[kCP])
		}
		// Prune must read the kept (damaged) checkpoint to know which blobs
		// it needs: it fails before deleting anything.
		if err := s.Prune(bg, []string{"bad"}, ckpt.PruneKeepLatest); !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("prune over a damaged value: %v, want ErrCorrupt", err)
		}
		if _, err := s.GetTuple(bg, c); err != nil {
			t.Fatalf("failed prune deleted the older checkpoint: %v", err)
		}
	})
	t.Run("key of the wrong type", func(t *testing.T) {
		k := s.keys.thread("wrongtype")[kOrd]
		rdb.Set(bg, k, "a string", 0)
		_, err := s.GetTuple(bg, ckpt.Config{ThreadID: "wrongtype"})
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(ce.Key, k) {
			t.Fatalf("err = %v, want CorruptError naming %q", err, k)
		}
	})
	t.Run("another layout version", func(t *testing.T) {
		p := uniquePrefix()
		rdb.Set(bg, p+":format", "99", 0)
		_, err := New(bg, Options{Addr: sharedServer(t).Addr(), Prefix: p})
		if !errors.Is(err, ckpt.ErrFormatVersion) {
			t.Fatalf("err = %v, want ErrFormatVersion", err)
		}
	})
}

func TestCloseStopsEverything(t *testing.T) {
	srv := sharedServer(t)
	runtime.GC()
	before := runtime.NumGoroutine()
	s, err := New(bg, Options{Addr: srv.Addr(), Prefix: uniquePrefix()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step(t, s, ckpt.Config{ThreadID: fmt.Sprint("g", i)}, 1)
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if _, err := s.GetTuple(bg, ckpt.Config{ThreadID: "g0"}); !errors.Is(err, ckpt.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, ckpt.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestManyChannelsAndWritesInOneCheckpoint(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	const n = 9000 // past Lua's 8000-value unpack limit: the scripts read in chunks
	cp := ckpt.Checkpoint{ChannelValues: map[string]any{}, ChannelVersions: map[string]string{}}
	nv := map[string]string{}
	var writes []ckpt.Write
	for i := range n {
		ch := fmt.Sprint("ch", i)
		cp.ChannelValues[ch], cp.ChannelVersions[ch], nv[ch] = i, "1", "1"
		writes = append(writes, ckpt.Write{Channel: ch, Value: i})
	}
	c, err := s.Put(bg, ckpt.Config{ThreadID: "wide"}, cp, nil, nv)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(bg, c, writes, "task", ""); err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(bg, c)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if len(tp.Checkpoint.ChannelValues) != n || len(tp.PendingWrites) != n || tp.Decode("ch1234", &v) != nil || v != 1234 {
		t.Fatalf("%d values, %d writes, ch1234=%d", len(tp.Checkpoint.ChannelValues), len(tp.PendingWrites), v)
	}
	if tp.PendingWrites[n-1].Idx != n-1 {
		t.Fatalf("writes not in idx order: last is %d", tp.PendingWrites[n-1].Idx)
	}
}

// resendHook runs every EVALSHA twice, as go-redis does when a connection
// breaks after a command was sent and before its reply arrived.
type resendHook struct{}

func (resendHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (resendHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (resendHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" {
			if err := next(ctx, cmd); err != nil {
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func TestAResentPutIsAppliedOnce(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	s.Client().AddHook(resendHook{})
	first, err := s.Put(bg, ckpt.Config{ThreadID: "resent"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	second, err := s.PutFull(cas, first, ckpt.Checkpoint{}, nil, nil, []ckpt.TaskWrites{{TaskID: "t", Writes: []ckpt.Write{{Channel: "a", Value: 1}}}})
	if err != nil {
		t.Fatalf("resent compare-and-set put: %v, want success", err)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "resent"}); !slices.Equal(got, []string{second.CheckpointID, first.CheckpointID}) {
		t.Fatalf("history %v, want exactly the two puts", got)
	}
	tp, err := s.GetTuple(bg, second)
	if err != nil || len(tp.PendingWrites) != 1 {
		t.Fatalf("writes of the resent PutFull: %+v, %v", tp, err)
	}
}
