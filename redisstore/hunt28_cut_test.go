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
