package redisstore

// W1 "chat" (shared/bench/WORKLOAD.md) against Redis on loopback, with AOF
// everysec and always. Run:
//
//	go test -run '^$' -bench W1 -benchtime 1x ./redisstore
//
// Each iteration runs the whole W1 load (T=100 threads x S=50 steps,
// 200-byte messages, 1 KiB context) on a fresh key prefix and reports
// steps/s (one step = Put + PutWrites, or one PutFull), then R1 (getTuple
// latest) ops/s, the AOF bytes per step and the PING round trip measured
// just before the load. The input is the same
// xorshift64 text the bench/ harness and the LangGraph.js peer use.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
)

const golden = 0x9E3779B97F4A7C15

// text is bench/text.go's generator: n bytes of lowercase words.
func text(seed uint64, n int) string {
	out := make([]byte, 0, n)
	x := seed ^ golden
	if x == 0 {
		x = golden
	}
	for len(out) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for i := 0; i < 12 && len(out) < n; i++ {
			c := byte((x >> (5 * i)) & 31)
			switch {
			case c < 26:
				out = append(out, 'a'+c)
			case len(out) > 0 && out[len(out)-1] != ' ':
				out = append(out, ' ')
			}
		}
	}
	return string(out)
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type w1 struct {
	T, S int
	msgs [][]message
	ctx  []string
}

func newW1(T, S, P, C int) *w1 {
	in := &w1{T: T, S: S, msgs: make([][]message, T), ctx: make([]string, T)}
	for t := range T {
		in.ctx[t] = text(uint64(t), C)
		in.msgs[t] = make([]message, S)
		for s := range S {
			role := "user"
			if s%2 == 1 {
				role = "assistant"
			}
			in.msgs[t][s] = message{role, text(uint64(t)*1_000_003+uint64(s), P)}
		}
	}
	return in
}

// step stores step s of thread t after parent and returns its config.
func (in *w1) step(ctx context.Context, st *Store, t, s int, parent string, full bool) (ckpt.Config, error) {
	ver := strconv.Itoa(s + 1)
	values := map[string]any{"messages": in.msgs[t][:s+1], "turn_count": s + 1}
	nv := map[string]string{"messages": ver, "turn_count": ver}
	if s == 0 {
		values["context"] = in.ctx[t]
		nv["context"] = "1"
	}
	cp := ckpt.Checkpoint{V: 4, ChannelValues: values, ChannelVersions: map[string]string{"messages": ver, "turn_count": ver, "context": "1"}}
	node := "answer"
	if s%2 == 1 {
		node = "tools"
	}
	meta := ckpt.Metadata{"source": "loop", "step": s, "node": node, "route": "generate", "reason": "normal", "run_id": "run-" + strconv.Itoa(t)}
	cfg := ckpt.Config{ThreadID: "thread-" + strconv.Itoa(t), CheckpointID: parent}
	writes := []ckpt.Write{{Channel: "messages", Value: in.msgs[t][s]}, {Channel: "turn_count", Value: s + 1}}
	task := "task-" + strconv.Itoa(s)
	if full {
		return st.PutFull(ctx, cfg, cp, meta, nv, []ckpt.TaskWrites{{TaskID: task, Writes: writes}})
	}
	c, err := st.Put(ctx, cfg, cp, meta, nv)
	if err != nil {
		return c, err
	}
	return c, st.PutWrites(ctx, c, writes, task, "")
}

// load runs the whole W1 with the given writers (writer w owns threads
// t%writers == w).
func (in *w1) load(ctx context.Context, st *Store, writers int, full bool) error {
	parents := make([]string, in.T)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for s := range in.S {
				for t := w; t < in.T; t += writers {
					c, err := in.step(ctx, st, t, s, parents[t], full)
					if err != nil {
						errs[w] = err
						return
					}
					parents[t] = c.CheckpointID
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func aofBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) != ".log" {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func BenchmarkW1(b *testing.B) {
	redistest.Need(b)
	in := newW1(100, 50, 200, 1024)
	ctx := context.Background()
	for _, fsync := range []string{"everysec", "always"} {
		dir := b.TempDir()
		srv, err := redistest.Start(dir, "--appendonly", "yes", "--appendfsync", fsync,
			"--auto-aof-rewrite-percentage", "0") // no rewrite: AOF growth is what the steps wrote
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			writers int
			full    bool
		}{{1, false}, {1, true}, {16, false}} {
			kind := "Put+PutWrites"
			if c.full {
				kind = "PutFull"
			}
			b.Run(fmt.Sprintf("aof=%s/writers=%d/%s", fsync, c.writers, kind), func(b *testing.B) {
				var stepsPerS, r1 float64
				var bytesPerStep, ping float64
				for range b.N {
					st, err := New(ctx, Options{Addr: srv.Addr(), Prefix: uniquePrefix(), Redis: nil})
					if err != nil {
						b.Fatal(err)
					}
					// The loopback round trip now, as the scale of the machine's
					// load (the figures below are bound by it).
					t0 := time.Now()
					for range 1000 {
						if err := st.Client().Ping(ctx).Err(); err != nil {
							b.Fatal(err)
						}
					}
					ping += float64(time.Since(t0).Microseconds()) / 1000
					before := aofBytes(dir)
					t0 = time.Now()
					if err := in.load(ctx, st, c.writers, c.full); err != nil {
						b.Fatal(err)
					}
					stepsPerS += float64(in.T*in.S) / time.Since(t0).Seconds()
					bytesPerStep += float64(aofBytes(dir)-before) / float64(in.T*in.S)
					t0 = time.Now()
					for i := range 10_000 {
						if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: "thread-" + strconv.Itoa(i%in.T)}); err != nil {
							b.Fatal(err)
						}
					}
					r1 += 10_000 / time.Since(t0).Seconds()
					_ = st.Close()
				}
				b.ReportMetric(stepsPerS/float64(b.N), "steps/s")
				b.ReportMetric(r1/float64(b.N), "R1-ops/s")
				b.ReportMetric(bytesPerStep/float64(b.N), "AOF-B/step")
				b.ReportMetric(ping/float64(b.N), "ping-µs")
				b.ReportMetric(0, "ns/op")
			})
		}
		srv.Kill()
	}
}
