package redisstore

// Tests run against a real redis-server that they start themselves (see
// redistest) on a free loopback port in a temporary directory. Without the
// binary they skip, unless CKPT_REQUIRE_REDIS=1 (CI), where they fail.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

var shared struct {
	once sync.Once
	srv  *redistest.Server
	err  error
	mu   sync.Mutex
	n    int
}

// sharedServer returns the package's redis-server (no persistence),
// started on first use and stopped by TestMain.
func sharedServer(t testing.TB) *redistest.Server {
	t.Helper()
	redistest.Need(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "redisstore-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = redistest.Start(dir, "--appendonly", "no")
	})
	if shared.err != nil {
		t.Fatalf("start redis-server: %v", shared.err)
	}
	return shared.srv
}

// ownServer starts a redis-server of the test's own (for a test that
// pauses, fails over or kills it), killed when the test ends.
func ownServer(t testing.TB) *redistest.Server {
	t.Helper()
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

// uniquePrefix gives each store of a test its own empty key space on the
// shared server.
func uniquePrefix() string {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.n++
	return fmt.Sprintf("test%d-%d", os.Getpid(), shared.n)
}

// newTestStore opens a store on srv, closed at the end of the test.
func newTestStore(t testing.TB, srv *redistest.Server, opts Options) *Store {
	t.Helper()
	opts.Addr = srv.Addr()
	if opts.Prefix == "" {
		opts.Prefix = uniquePrefix()
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// quietLogger drops go-redis's log lines (dial failures the tests cause
// on purpose).
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Kill()
		_ = os.RemoveAll(shared.srv.Dir())
	}
	os.Exit(code)
}

// killHunt starts the redis-server of a hunt that kills it (AOF fsync'd
// before every reply, so every acknowledged write must come back) and
// returns it with the hunt's rounds: CKPT_HUNT_ROUNDS, else def. It skips
// under -short; the server is killed when the test ends.
func killHunt(t *testing.T, def int) (*redistest.Server, int) {
	t.Helper()
	redistest.Need(t)
	if testing.Short() {
		t.Skip("kills redis-server")
	}
	rounds := def
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		rounds = v
	}
	srv, err := redistest.Start(t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv, rounds
}
