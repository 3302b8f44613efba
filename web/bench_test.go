package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	h := web.Handler(s, web.Options{})
	for _, bc := range []struct{ name, path string }{
		{"first", "/thread?t=big"},
		{"deep", "/thread?t=big&before=" + ids[5000]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", bc.path, nil)
				req.Host = "localhost"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
