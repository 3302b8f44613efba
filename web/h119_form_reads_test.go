package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// blockedBody is a body whose first Read says so, then waits for release.
type blockedBody struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockedBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return 0, http.ErrBodyReadAfterClose
}

// Every write action read its form (up to 16 MB, parsed) as soon as it
// came, before the token told a person's POST from anyone's, with no bound
// on how many at once: a flood of large POSTs, from a process on the
// machine, took memory by the request. At most formReads are read at
// once; a request waiting for its turn stops when its client goes,
// without reading its body.
func TestFormsAreReadAFewAtATime(t *testing.T) {
	st, err := ckpt.Open(filepath.Join(t.TempDir(), "f.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := Handler(st, Options{AllowWrites: true})
	post := func(ctx context.Context, body interface{ Read([]byte) (int, error) }) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, "POST", "http://127.0.0.1/copy", body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range formReads {
		b := &blockedBody{started: make(chan struct{}), release: release}
		wg.Go(func() { post(context.Background(), b) })
		<-b.started
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone while the others are read
	late := &watchedBody{}
	rec := post(ctx, late)
	close(release)
	wg.Wait()
	if late.read || rec.Code < 400 {
		t.Errorf("with %d forms being read, another POST whose client went: %d, its body read: %v", formReads, rec.Code, late.read)
	}
}
