package main

// W1 on the Redis backend (redisstore), beside the bbolt store in the same
// invocation: `go run ./bench --redis`. Each figure runs on a fresh
// redis-server (Debian package redis-server) on a free loopback port in a
// temporary directory, with AOF on and the fsync policy of its row.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ckpt-go/ckpt/redisstore"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
)

// redisFigure is one W1 load on Redis.
type redisFigure struct {
	fsync     string // appendfsync policy
	kind      stepKind
	writers   int
	stepsPerS float64
}

// runRedis runs W1 (1 writer as Put+PutWrites and as PutFull, and
// cfg.writers writers) against redis-server with appendfsync everysec and
// always.
func runRedis(ctx context.Context, cfg config, dir string, in *w1Input, logf func(string, ...any)) ([]redisFigure, error) {
	if _, err := redistest.Binary(); err != nil {
		return nil, fmt.Errorf("--redis needs redis-server (apt-get install redis-server): %w", err)
	}
	var out []redisFigure
	for _, fsync := range []string{"everysec", "always"} {
		for _, f := range []redisFigure{{fsync: fsync, kind: putThenWrites, writers: 1}, {fsync: fsync, kind: putFull, writers: 1}, {fsync: fsync, kind: putThenWrites, writers: cfg.writers}} {
			logf("Redis W1: appendfsync %s, %s, %d writer(s)", fsync, f.kind, f.writers)
			sps, err := redisLoad(ctx, filepath.Join(dir, fmt.Sprintf("redis-%s-%d-%d", fsync, f.kind, f.writers)), in, fsync, f.kind, f.writers)
			if err != nil {
				return nil, err
			}
			f.stepsPerS = sps
			out = append(out, f)
		}
	}
	return out, nil
}

func redisLoad(ctx context.Context, dir string, in *w1Input, fsync string, kind stepKind, writers int) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	srv, err := redistest.Start(dir, "--appendonly", "yes", "--appendfsync", fsync, "--auto-aof-rewrite-percentage", "0")
	if err != nil {
		return 0, err
	}
	defer srv.Kill()
	st, err := redisstore.New(ctx, redisstore.Options{Addr: srv.Addr()})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	threads := newThreads(in)
	t0 := time.Now()
	if writers <= 1 {
		for s := range in.S {
			for t := range in.T {
				if _, err := doStep(ctx, st, in, &threads[t], t, s, kind); err != nil {
					return 0, err
				}
			}
		}
	} else if err := concurrentLoad(ctx, st, in, threads, writers, kind); err != nil {
		return 0, err
	}
	return float64(in.T*in.S) / time.Since(t0).Seconds(), nil
}

// writeRedis prints the Redis figures beside ckpt's Sync figures of the
// same kind from this run.
func writeRedis(out io.Writer, figs []redisFigure, fig w1Figures) {
	fmt.Fprintf(out, "## W1 on the Redis backend (redisstore, redis-server on loopback, AOF on)\n\n")
	fmt.Fprintf(out, "| AOF fsync | step | writers | Redis steps/s | ckpt Sync steps/s (this run) | Redis / ckpt |\n|---|---|---:|---:|---:|---:|\n")
	for _, f := range figs {
		key := map[bool]string{true: "sync1", false: "syncN"}[f.writers <= 1] + map[stepKind]string{putFull: ".full", putThenWrites: ".pw"}[f.kind]
		c := fig.get(key)
		fmt.Fprintf(out, "| %s | %s | %d | %.0f | %.0f | %.2fx |\n", f.fsync, f.kind, f.writers, f.stepsPerS, c, f.stepsPerS/c)
	}
	fmt.Fprintln(out)
}
