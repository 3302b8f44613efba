package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// damagedAtStore writes thread "th" of n checkpoints, all with metadata
// node=n, whose checkpoint bad (0 the oldest) alone holds a value that
// then fails its checksum; it returns the file opened read-only and the
// ids, oldest first.
func damagedAtStore(t *testing.T, n, bad int) (*ckpt.Store, []string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-OF-THE-DAMAGED-VALUE"
	var ids []string
	for i := range n {
		v := fmt.Sprintf("value-%d", i)
		if i == bad {
			v = marker
		}
		id, err := s.Save(ctx, "th", map[string]any{"v": v}, ckpt.Metadata{"node": "n", "step": i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return closeAndDamage(t, s, path, marker, "marker-of-the-damaged-value"), ids
}

// A filtered thread page of a thread with a damaged checkpoint is drawn
// around the damage (TestH240ThreadPageDrawsAroundADamagedValue), but its
// "newer" link walked the filtered history with List, which stops at the
// damaged record once the filter matches it: it answered 422 where the
// page it links from drew. It now walks as the page draws (the damaged
// checkpoint on every filtered page) and sends on to the page just newer.
func TestH243FilteredNewerLinkWalksPastADamagedCheckpoint(t *testing.T) {
	ro, ids := damagedAtStore(t, 4, 2)
	c := newClient(t, web.Handler(ro, web.Options{}))
	for _, tc := range []struct {
		after, before string // before: of the page sent to
	}{
		{ids[0], ids[2]}, // the page of ids[1]
		{ids[1], ids[3]}, // the page of the damaged ids[2]
		{ids[2], ""},     // the first page
	} {
		path := "/thread" + q("t", "th", "limit", "1", "filter", "node=n", "after", tc.after)
		req, err := http.NewRequest("GET", c.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, body, hdr := c.do(req)
		if code != http.StatusSeeOther {
			t.Errorf("GET %s: %d, want 303 to the page newer than %s\n%.1500s", path, code, tc.after, html.UnescapeString(body))
			continue
		}
		loc := hdr.Get("Location")
		if strings.Contains(loc, "before=") != (tc.before != "") || (tc.before != "" && !strings.Contains(loc, "before="+tc.before)) {
			t.Errorf("GET %s: sent to %s, want the page before %q", path, loc, tc.before)
		}
		if code, body := c.get(loc); code != 200 {
			t.Errorf("GET %s (the newer page): %d\n%.1500s", loc, code, html.UnescapeString(body))
		}
	}
}
