package redisstore

// Tests run against a real redis-server that they start themselves on a
// free loopback port in a temporary directory. Without the binary they
// skip, unless CKPT_REQUIRE_REDIS=1 (CI), where they fail.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// server is one redis-server process.
type server struct {
	bin, dir string
	port     int
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// redisBinary finds redis-server or skips (fails under CKPT_REQUIRE_REDIS=1).
func redisBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CKPT_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server not found and CKPT_REQUIRE_REDIS=1: install it (apt-get install redis-server)")
		}
		t.Skip("redis-server not found: install the redis-server package to run the Redis tests")
	}
	return bin
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts redis-server in dir with extra config arguments
// (e.g. "--appendonly", "yes"). The caller stops it.
func startServer(bin, dir string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin, dir: dir, port: port, args: extra}
	return s, s.start()
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server on %s not ready: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server abruptly (SIGKILL), as a crash would.
func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

var shared struct {
	once sync.Once
	srv  *server
	err  error
	n    int
	mu   sync.Mutex
}

// sharedServer returns the package's redis-server (no persistence),
// started on first use and stopped by TestMain.
func sharedServer(t testing.TB) *server {
	t.Helper()
	bin := redisBinary(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "redisstore-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = startServer(bin, dir, "--appendonly", "no")
	})
	if shared.err != nil {
		t.Fatalf("start redis-server: %v", shared.err)
	}
	return shared.srv
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
func newTestStore(t testing.TB, srv *server, opts Options) *Store {
	t.Helper()
	opts.Addr = srv.addr()
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
		shared.srv.kill()
		_ = os.RemoveAll(shared.srv.dir)
	}
	os.Exit(code)
}
