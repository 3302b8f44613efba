package web_test

import (
	"context"
	"html"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// damagedValueStore writes thread "th" of three checkpoints whose middle
// one alone holds a value (v) that then fails its checksum, and a sound
// thread "good"; it returns the file opened read-only and the ids of th,
// oldest first.
func damagedValueStore(t *testing.T) (*ckpt.Store, string, []string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-OF-THE-DAMAGED-VALUE"
	var ids []string
	for _, v := range []string{"first", marker, "third"} {
		id, err := s.Save(ctx, "th", map[string]any{"v": v, "k": "kept"}, ckpt.Metadata{"node": "node-" + strings.ToLower(v[:5])})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.Save(ctx, "good", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	ro := closeAndDamage(t, s, path, marker, "marker-of-the-damaged-value")
	return ro, path, ids
}

// One value that fails its checksum made the whole thread page an error
// (500, with the damage hint): none of the thread's sound checkpoints
// could be reached from it. The page now draws every checkpoint, the
// damaged one's row saying it is damaged with the store's error, and
// says what to run; its pages (limit, before) and a filter do too.
func TestH240ThreadPageDrawsAroundADamagedValue(t *testing.T) {
	ro, path, ids := damagedValueStore(t)
	c := newClient(t, web.Handler(ro, web.Options{}))
	row := func(body, id string) string {
		i := strings.Index(body, `title="`+id+`"`)
		if i < 0 {
			return ""
		}
		r := body[i:]
		return r[:strings.Index(r, "</tr>")]
	}
	code, body := c.get("/thread" + q("t", "th"))
	text := html.UnescapeString(body)
	if code != 200 {
		t.Fatalf("GET /thread?t=th: %d, want 200 with the sound checkpoints drawn\n%.1500s", code, text)
	}
	for i, node := range []string{"node-first", "", "node-third"} {
		r := html.UnescapeString(row(body, ids[i]))
		switch {
		case r == "":
			t.Errorf("checkpoint %d (%s) is not on the page", i, ids[i])
		case node != "" && (!strings.Contains(r, node) || strings.Contains(r, "damaged")):
			t.Errorf("sound checkpoint %d: its row does not show its node %s, or says damaged: %s", i, node, r)
		case node == "" && (!strings.Contains(r, "damaged") || !strings.Contains(r, "corrupt data")):
			t.Errorf("damaged checkpoint %d: its row does not say it is damaged with the store's error: %s", i, r)
		}
	}
	if !strings.Contains(text, "ckpt verify "+path) {
		t.Errorf("the page does not say to run ckpt verify %s", path)
	}
	if strings.Contains(text, "marker-of-the-damaged-value") {
		t.Errorf("the page shows the damaged bytes")
	}
	// One a page: the damaged checkpoint is a page of its own.
	for i, before := range []string{"", ids[2], ids[1]} {
		code, body := c.get("/thread" + q("t", "th", "limit", "1", "before", before))
		want := ids[2-i]
		if code != 200 || row(body, want) == "" || strings.Count(body, `<tr class="cp`) != 1 {
			t.Errorf("page %d of one checkpoint: %d, want 200 with %s alone\n%.1500s", i, code, want, html.UnescapeString(body))
		}
		if next := strings.Contains(body, `id="older"`); next != (i < 2) {
			t.Errorf("page %d: older link %v", i, next)
		}
	}
	// The newer link of a deep page walks down past the damaged one.
	if code, _ := c.get("/thread" + q("t", "th", "limit", "1", "after", ids[0])); code != http.StatusSeeOther {
		t.Errorf("GET /thread?after=%s: %d, want 303 to the page newer than it", ids[0], code)
	}
	// A filter: the sound checkpoint that matches (the damaged one's
	// metadata reads, and does not match); the damaged one that matches,
	// marked damaged.
	code, body = c.get("/thread" + q("t", "th", "filter", "node=node-first"))
	if code != 200 || row(body, ids[0]) == "" || row(body, ids[1]) != "" || row(body, ids[2]) != "" {
		t.Errorf("filtered page: %d, want 200 with %s alone\n%.1500s", code, ids[0], html.UnescapeString(body))
	}
	code, body = c.get("/thread" + q("t", "th", "filter", "node=node-marke"))
	if code != 200 || row(body, ids[0]) != "" || row(body, ids[2]) != "" || !strings.Contains(row(body, ids[1]), "damaged") {
		t.Errorf("filtered page: %d, want 200 with the damaged %s alone\n%.1500s", code, ids[1], html.UnescapeString(body))
	}
	if code, body := c.get("/thread" + q("t", "good")); code != 200 || strings.Contains(body, "damaged") || strings.Contains(body, "ckpt verify") {
		t.Errorf("GET /thread?t=good: %d, or damage on a sound thread", code)
	}
}

// The pages that must read the damaged value are error pages, all with
// one status that says the request was sound and the data it names is
// not (not 500, which says the server failed: it did not, and trying
// again does not help), each saying so and what to run.
func TestH240PagesOfADamagedValueAnswerOneStatus(t *testing.T) {
	ro, path, ids := damagedValueStore(t)
	c := newClient(t, web.Handler(ro, web.Options{}))
	for _, p := range []string{
		"/checkpoint" + q("t", "th", "id", ids[1]),
		"/value" + q("t", "th", "id", ids[1], "ch", "v"),
		"/value" + q("t", "th", "id", ids[1], "ch", "k"),
		"/diff" + q("t", "th", "a", ids[0], "b", ids[1]),
		"/diff" + q("t", "th", "a", ids[1], "b", ids[2]),
	} {
		code, body := c.get(p)
		text := html.UnescapeString(body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(text, "corrupt data") || !strings.Contains(text, "ckpt verify "+path) {
			t.Errorf("GET %s: %d, want %d saying the data is corrupt and to run ckpt verify\n%.1500s", p, code, http.StatusUnprocessableEntity, text)
		}
	}
	if code, _ := c.get("/value" + q("t", "th", "id", ids[2], "ch", "v")); code != 200 {
		t.Errorf("the value of a sound checkpoint of the damaged thread: %d", code)
	}
}
