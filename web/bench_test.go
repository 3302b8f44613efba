package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// BenchmarkThreadPage10k renders one page (50 rows) of a thread with
// 10,000 checkpoints, the first page and one deep in the history. The issue
// asks for under 100 ms.
func BenchmarkThreadPage10k(b *testing.B) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(b.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ids []string
	msgs := []string{}
	for i := range 10000 {
		if i%20 == 0 {
			msgs = msgs[:0] // a new conversation turn: the list starts again
		}
		msgs = append(msgs, "message")
		id, err := s.Save(ctx, "big", map[string]any{"messages": msgs, "step": i}, ckpt.Metadata{"step": i, "node": "n", "source": "loop"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	// MaxCPUShare 1: measure what a page costs, not the gate's pauses.
	h := web.Handler(s, web.Options{MaxCPUShare: 1})
	for _, bc := range []struct{ name, path string }{
		{"first", "/thread?t=big"},
		{"deep", "/thread?t=big&before=" + ids[5000]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				benchGet(b, h, bc.path)
			}
		})
	}
}

// BenchmarkPages builds each page type once per iteration on a store shaped
// like bench/webload.go's: 200 threads of 50 steps of W1 (a message list that
// grows by one message a step, a turn count, a context written once, two
// pending writes a step). It is the profile behind the page costs in
// docs/browser.md: go test -bench Pages -cpuprofile cpu.out.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(b.TempDir(), "w1.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const threads, steps = 200, 50
	text := strings.Repeat("lorem ipsum dolor sit amet ", 20) // ~500 bytes, W1's P
	var mid string
	for t := range threads {
		id := "thread-" + strconv.Itoa(t)
		parent := ""
		var msgs []map[string]any
		for st := range steps {
			msgs = append(msgs, map[string]any{"role": "user", "content": text})
			ver := strconv.Itoa(st + 1)
			values := map[string]any{"messages": msgs, "turn_count": st + 1}
			nv := map[string]string{"messages": ver, "turn_count": ver}
			if st == 0 {
				values["context"] = strings.Repeat("context ", 250)
				nv["context"] = "1"
			}
			cp := ckpt.Checkpoint{V: 4, ChannelValues: values,
				ChannelVersions: map[string]string{"messages": ver, "turn_count": ver, "context": "1"}}
			meta := ckpt.Metadata{"source": "loop", "step": st, "node": "answer", "route": "generate", "reason": "normal", "run_id": "run-" + strconv.Itoa(t)}
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: id, CheckpointID: parent}, cp, meta, nv)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "messages", Value: msgs[st]}, {Channel: "turn_count", Value: st + 1}}, "task-"+ver, ""); err != nil {
				b.Fatal(err)
			}
			parent = cfg.CheckpointID
			if t == threads-1 && st == steps/2 {
				mid = parent
			}
		}
	}
	last := "thread-" + strconv.Itoa(threads-1)
	// MaxCPUShare 1: measure what a page costs, not the gate's pauses.
	h := web.Handler(s, web.Options{MaxCPUShare: 1})
	for _, bc := range []struct{ name, path string }{
		{"threads", "/"},
		{"thread", "/thread?t=" + last},
		{"checkpoint", "/checkpoint?t=" + last + "&id=" + mid},
		{"diff", "/diff?t=" + last + "&a=" + mid + "&b=" + parentOfLast(b, s, last)},
		{"stats", "/stats"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				benchGet(b, h, bc.path)
			}
		})
	}
}

func parentOfLast(b *testing.B, s *ckpt.Store, thread string) string {
	t, err := s.GetTuple(context.Background(), ckpt.Config{ThreadID: thread})
	if err != nil {
		b.Fatal(err)
	}
	return t.Config.CheckpointID
}

// benchGet loads one page through h and fails b unless it is served.
func benchGet(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest("GET", path, nil)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%d: %s", rec.Code, rec.Body)
	}
}
