// Package redistest starts throwaway redis-server processes for tests and
// benchmarks: on a free loopback port, in a directory of the caller's
// choosing, stopped by the caller.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv names the environment variable that turns a missing
// redis-server from a skip into a failure (CI sets it to 1).
const RequireEnv = "CKPT_REQUIRE_REDIS"

// ErrNoBinary: redis-server is not on PATH.
var ErrNoBinary = errors.New("redistest: redis-server not found (install the redis-server package)")

// Binary returns the path of redis-server, or ErrNoBinary.
func Binary() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNoBinary
	}
	return bin, nil
}

// Need returns the path of redis-server; without it the test is skipped,
// or fails when RequireEnv is "1".
func Need(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v, and %s=1", err, RequireEnv)
		}
		t.Skipf("%v: skipping the Redis tests", err)
	}
	return bin
}

// Server is one redis-server process.
type Server struct {
	bin, dir string
	port     int
	conf     string // a config file, first argument (a Sentinel's)
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start starts redis-server with its data in dir, on a free loopback port,
// with RDB snapshots off and extra configuration arguments (for example
// "--appendonly", "yes", "--appendfsync", "always"). It returns once the
// server answers PING.
func Start(dir string, extra ...string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, port: port, args: extra}
	return s, s.Restart()
}

// StartSentinel starts a Redis Sentinel in dir (its config file is
// written there) on a free loopback port, watching the primary at
// primaryAddr under the name master, with a quorum of 1. It returns once
// the Sentinel answers PING.
func StartSentinel(dir, master, primaryAddr string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host, pport, err := net.SplitHostPort(primaryAddr)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n", master, host, pport, master)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, port: port, conf: conf, args: []string{"--sentinel"}}
	return s, s.Restart()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.dir }

// Restart starts the server (again) on the same port and directory, so it
// reloads whatever its persistence kept.
func (s *Server) Restart() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"))
	args = append(args, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialerRetries: 1})
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
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redistest: redis-server exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redistest: redis-server on %s not ready: %w", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server abruptly (SIGKILL), as a crash would: no shutdown
// save, only what its persistence already wrote survives.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
}
