package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// watchedBody is a request body that records whether it was read.
type watchedBody struct{ read bool }

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read = true
	return 0, io.EOF
}

// A POST from another site was refused only after its form was read (up
// to 16 MB, parsed): a page in the browser of the person running the
// handler could make it read and parse bodies as fast as it sent them,
// beside the program's writers, ungated. The Origin is a header: a
// cross-origin POST is refused before its body is read.
func TestCrossOriginPostIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	st, err := ckpt.Open(filepath.Join(t.TempDir(), "o.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Save(context.Background(), "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	h := Handler(st, Options{AllowWrites: true})
	for _, path := range []string{"/copy", "/fork", "/delete"} {
		body := &watchedBody{}
		req := httptest.NewRequest("POST", "http://127.0.0.1"+path, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://evil.example")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || body.read {
			t.Errorf("POST %s from another origin: %d, body read: %v; want 403 before the body is read", path, rec.Code, body.read)
		}
	}
}
