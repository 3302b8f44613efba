package web

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestGateIsLeftWhenAPageBuildPanics: net/http recovers a handler's panic
// and the program goes on, but the gate's slot stayed taken by the build
// that panicked, so every page after it waited for ever (until its client
// gave up: 503). The panic still reaches net/http (which logs it); the
// slot is given back.
func TestGateIsLeftWhenAPageBuildPanics(t *testing.T) {
	st, err := ckpt.Open(filepath.Join(t.TempDir(), "p.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := Handler(st, Options{MaxCPUShare: 1}).(*server)
	h := s.gated(func(http.ResponseWriter, *http.Request) { panic("a page build that panics") })
	func() {
		defer func() {
			if p := recover(); p == nil {
				t.Error("the build's panic did not reach the caller")
			}
		}()
		h(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if n := len(s.gate.slot); n != 0 {
		t.Fatalf("after a build that panicked the gate's slot is still taken (%d): every later page waits for ever", n)
	}
}
