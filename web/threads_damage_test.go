package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestThreadsPageListsTheOthersBesideADamagedThread: one damaged record
// (an old checkpoint's metadata) in one of 120 threads. The threads page
// summarised every thread and answered every page with the error, so no
// thread of the store could be reached from it; now the page that holds
// the damaged thread says so in its row and lists the others, and the
// other page does not read it at all.
func TestThreadsPageListsTheOthersBesideADamagedThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const threads, marker = 120, "MARKER-OF-THE-DAMAGED-RECORD"
	for i := range threads {
		thread := fmt.Sprintf("t-%03d", i)
		meta := ckpt.Metadata{"node": "first"}
		if i == threads-1 {
			meta["note"] = marker
		}
		for _, m := range []ckpt.Metadata{meta, {"node": "second"}} {
			if _, err := s.Save(ctx, thread, map[string]any{"n": i}, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	ro := closeAndDamage(t, s, path, marker, strings.ToLower(marker))
	c := newClient(t, web.Handler(ro, web.Options{}))
	damaged := fmt.Sprintf("t-%03d", threads-1)
	code, body := c.get("/")
	if code != 200 {
		t.Fatalf("GET /: status %d, want 200 with the other threads\n%.800s", code, body)
	}
	for i := threads - 100; i < threads-1; i++ {
		if !strings.Contains(body, fmt.Sprintf(">t-%03d</a>", i)) {
			t.Fatalf("GET / does not list thread t-%03d", i)
		}
	}
	row := body[strings.Index(body, ">"+damaged+"</a>"):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "damaged") || !strings.Contains(row, "ckpt: corrupt") || strings.Contains(row, `class="n"`) {
		t.Errorf("the damaged thread's row does not say it is damaged, or shows counts the damage may have cut short: %s", row)
	}
	if strings.Count(body, "damaged") != 1 {
		t.Errorf("GET / says damaged %d times, want once (one damaged thread)", strings.Count(body, "damaged"))
	}
	code, body = c.get("/?offset=100")
	if code != 200 || strings.Contains(body, "damaged") || !strings.Contains(body, ">t-000</a>") || !strings.Contains(body, ">t-019</a>") {
		t.Fatalf("GET /?offset=100: status %d, want the 20 oldest threads, none damaged\n%.800s", code, body)
	}
}
