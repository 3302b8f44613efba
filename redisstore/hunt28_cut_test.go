package redisstore

// A connection cut between Redis running a script and its reply reaching
// the client (a proxy or a load balancer that drops it): go-redis sends
// the command again on a new connection (MaxRetries, 3 by default), so
// every script runs twice in that case and must answer the second time as
// it would have the first.

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// cutProxy forwards connections to a Redis server; when armed it drops
// the next reply the server sends (after the server ran the command) and
// closes that connection.
type cutProxy struct {
	ln    net.Listener
	to    string
	armed atomic.Bool
	cuts  atomic.Int32
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, to string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		srv, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Go(func() { _, _ = io.Copy(srv, c); srv.Close() })
		p.wg.Go(func() {
			defer c.Close()
			defer srv.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := srv.Read(buf)
				if n > 0 && p.armed.CompareAndSwap(true, false) {
					p.cuts.Add(1)
					return // the command ran; its reply is lost
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// TestHunt28CopyThreadReplyCut: a copy whose reply was cut ran on the
// server; go-redis's retry found the destination it had just made and the
// caller got ErrExists for a copy that succeeded.
func TestHunt28CopyThreadReplyCut(t *testing.T) {
	srv := sharedServer(t)
	p := newCutProxy(t, srv.Addr())
	prefix := uniquePrefix()
	s := newTestStore(t, srv, Options{Prefix: prefix})
	history(t, s, "src", "", 3, nil)
	cs, err := New(bg, Options{Addr: p.addr(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	p.armed.Store(true)
	err = cs.CopyThread(bg, "src", "dst", ckpt.CopyOptions{})
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Errorf("CopyThread with its reply cut (go-redis sent it again): %v, want nil: the copy was made", err)
	}
	want, got := ids(t, s, ckpt.ListOptions{ThreadID: "src"}), ids(t, s, ckpt.ListOptions{ThreadID: "dst"})
	if !slices.Equal(want, got) {
		t.Fatalf("destination lists %v, want the source's %v", got, want)
	}
	// A destination that was there before is still refused, retried or not.
	p.armed.Store(true)
	if err := cs.CopyThread(bg, "src", "dst", ckpt.CopyOptions{}); !errors.Is(err, ckpt.ErrExists) {
		t.Errorf("second copy onto the same destination: %v, want ErrExists", err)
	}
}

// TestHunt28ScriptsReplyCut: every other writing call whose reply a cut
// connection lost, and which go-redis therefore sent again, answers as its
// first run did and leaves exactly what one run leaves.
func TestHunt28ScriptsReplyCut(t *testing.T) {
	srv := sharedServer(t)
	p := newCutProxy(t, srv.Addr())
	prefix := uniquePrefix()
	s := newTestStore(t, srv, Options{Prefix: prefix})
	cs, err := New(bg, Options{Addr: p.addr(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	cutOnce := func(name string, op func() error) error {
		t.Helper()
		p.armed.Store(true)
		err := op()
		if n := p.cuts.Swap(0); n != 1 {
			t.Fatalf("%s: the proxy cut %d replies, want 1", name, n)
		}
		return err
	}
	count := func(thread string) int { return len(ids(t, s, ckpt.ListOptions{ThreadID: thread})) }

	t.Run("Put with IfHead", func(t *testing.T) {
		h := history(t, s, "put", "", 2, nil)
		cp := ckpt.Checkpoint{ChannelValues: map[string]any{"count": 3, "const": "c"}, ChannelVersions: map[string]string{"count": "3", "const": "1"}}
		ctx := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
		var got ckpt.Config
		err := cutOnce("Put", func() (err error) {
			got, err = cs.Put(ctx, h[1], cp, nil, map[string]string{"count": "3"})
			return err
		})
		if err != nil {
			t.Fatalf("Put: %v, want nil", err)
		}
		if n := count("put"); n != 3 {
			t.Fatalf("%d checkpoints after one Put onto 2, want 3", n)
		}
		tp, err := s.GetTuple(bg, got)
		if err != nil || tp.Config.CheckpointID != got.CheckpointID {
			t.Fatalf("the acknowledged put: %v %v", tp, err)
		}
	})
	t.Run("PutWrites", func(t *testing.T) {
		h := history(t, s, "writes", "", 1, nil)
		err := cutOnce("PutWrites", func() error {
			return cs.PutWrites(bg, h[0], []ckpt.Write{{Channel: "x", Value: "v"}}, "task-2", "")
		})
		if err != nil {
			t.Fatalf("PutWrites: %v, want nil", err)
		}
		tp, err := s.GetTuple(bg, h[0])
		if err != nil || len(tp.PendingWrites) != 2 {
			t.Fatalf("writes after one PutWrites onto 1: %v %v, want 2", tp, err)
		}
	})
	t.Run("DeleteThread", func(t *testing.T) {
		history(t, s, "del", "", 2, nil)
		if err := cutOnce("DeleteThread", func() error { return cs.DeleteThread(bg, "del") }); err != nil {
			t.Fatalf("DeleteThread: %v, want nil", err)
		}
		if n := count("del"); n != 0 {
			t.Fatalf("%d checkpoints left by DeleteThread", n)
		}
	})
	t.Run("KeepLast", func(t *testing.T) {
		history(t, s, "keep", "", 5, nil)
		var st PruneStats
		err := cutOnce("KeepLast", func() (err error) {
			st, err = cs.KeepLast(bg, []string{"keep"}, 2)
			return err
		})
		if err != nil {
			t.Fatalf("KeepLast: %v, want nil", err)
		}
		if n := count("keep"); n != 2 {
			t.Fatalf("%d checkpoints left by KeepLast 2", n)
		}
		if st.Checkpoints != 3 || st.Writes != 3 {
			t.Errorf("KeepLast reported %+v, want the 3 checkpoints and 3 writes it deleted", st)
		}
	})
	t.Run("PruneStats delete", func(t *testing.T) {
		history(t, s, "prune", "", 3, nil)
		var st PruneStats
		err := cutOnce("PruneStats", func() (err error) {
			st, err = cs.PruneStats(bg, []string{"prune"}, ckpt.PruneDelete)
			return err
		})
		if err != nil {
			t.Fatalf("PruneStats: %v, want nil", err)
		}
		if n := count("prune"); n != 0 {
			t.Fatalf("%d checkpoints left by PruneDelete", n)
		}
		if st.Checkpoints != 3 {
			t.Errorf("PruneStats reported %+v, want the 3 checkpoints it deleted", st)
		}
	})
}
