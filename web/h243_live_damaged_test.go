package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/web"
)

// The live view of a thread (/head, polled, and /events, the stream)
// answered a bare error when the thread's newest checkpoint is damaged,
// while the thread page draws that checkpoint as a damaged row: the
// page's newest and the live view's never agreed. Both now name the
// newest checkpoint as the page does, and its damage.
func TestH243LiveViewOfADamagedNewestCheckpoint(t *testing.T) {
	ro, ids := damagedAtStore(t, 3, 2)
	c := newClient(t, web.Handler(ro, web.Options{}))
	type head struct{ Newest, Damaged string }
	check := func(what string, code int, body string) {
		t.Helper()
		var h head
		if code != 200 || json.Unmarshal([]byte(body), &h) != nil {
			t.Errorf("%s: %d %q, want 200 with the newest checkpoint as JSON", what, code, body)
			return
		}
		if h.Newest != ids[2] || !strings.Contains(h.Damaged, "corrupt data") {
			t.Errorf("%s: %+v, want newest %s with its damage (corrupt data)", what, h, ids[2])
		}
	}
	for _, filter := range []string{"", "node=n"} {
		code, body := c.get("/head" + q("t", "th", "filter", filter))
		check("GET /head filter "+filter, code, body)
		// The page it keeps live names the same newest: a poll that
		// named another would fetch the page again and again.
		if code, page := c.get("/thread" + q("t", "th", "filter", filter)); code != 200 || !strings.Contains(page, `data-newest="`+ids[2]+`"`) {
			t.Errorf("GET /thread filter %s: %d, or its newest is not %s", filter, code, ids[2])
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, "GET", c.srv.URL+"/events"+q("t", "th", "filter", filter), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		data := ""
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data = d
				break
			}
		}
		check("GET /events filter "+filter+" (first event)", resp.StatusCode, data)
		resp.Body.Close()
		cancel()
	}
	// A sound newest says nothing of damage.
	ro2, ids2 := damagedAtStore(t, 3, 0)
	c2 := newClient(t, web.Handler(ro2, web.Options{}))
	code, body := c2.get("/head" + q("t", "th"))
	if code != 200 || body != `{"newest":"`+ids2[2]+`"}`+"\n" {
		t.Errorf("GET /head of a sound newest: %d %q", code, body)
	}
}
