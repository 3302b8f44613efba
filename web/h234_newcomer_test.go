package web_test

import (
	"context"
	"html"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// What a newcomer saw on `ckpt ui` of an empty file: a table with one row
// "no threads" under "0 threads, newest first", and no word of how a
// thread gets there. The page now says how one is written (and that
// `ckpt demo` writes a sample); a search that matched nothing still says
// only that.
func TestH234EmptyStoreSaysHowAThreadGetsThere(t *testing.T) {
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "empty.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(t, web.Handler(s, web.Options{}))
	code, body := c.get("/")
	text := html.UnescapeString(body)
	if code != 200 || !strings.Contains(text, "Store.Save") || !strings.Contains(text, "ckpt demo") {
		t.Errorf("GET / of an empty store: %d, no hint of how a thread is written (Store.Save, ckpt demo):\n%s", code, text)
	}
	if strings.Contains(text, "0 threads, newest first") {
		t.Errorf("GET / of an empty store orders no threads: %q", "0 threads, newest first")
	}
	code, body = c.get("/?q=zzz")
	text = html.UnescapeString(body)
	if code != 200 || !strings.Contains(text, "no threads start with “zzz”") || strings.Contains(text, "ckpt demo") {
		t.Errorf("GET /?q=zzz: %d, want only that no thread starts with zzz:\n%s", code, text)
	}
}

// Thread ids are the program's bytes. The pages showed them as they are,
// so "new\nline" and "new line" read the same, a tab was a space, and a
// right-to-left override (U+202E) turned the rest of the id, and the
// cells after it, around ("edirrevo LTR"). The CLI prints such an id
// Go-quoted; the pages now do too, wherever they show one as text. A
// printable id stays as it is, and links keep the exact bytes.
func TestH234UnprintableThreadIDsShowQuoted(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "odd.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := map[string]string{}
	for _, th := range []string{"new\nline", "new line", "tab\there", "\u202eRTL", `"q"`, "émoji 🧠"} {
		id, err := s.Save(ctx, th, map[string]any{"v": 1}, ckpt.Metadata{"node": "n"})
		if err != nil {
			t.Fatal(err)
		}
		ids[th] = id
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	_, body := c.get("/")
	text := html.UnescapeString(body)
	for _, want := range []string{`>"new\nline"</a>`, `>new line</a>`, `>"tab\there"</a>`, `>"\u202eRTL"</a>`, `>"\"q\""</a>`, `>émoji 🧠</a>`} {
		if !strings.Contains(text, want) {
			t.Errorf("GET /: no %s", want)
		}
	}
	if strings.ContainsRune(text, '\u202e') {
		t.Error("GET /: a raw U+202E on the page")
	}
	for _, path := range []string{"/thread" + q("t", "new\nline"), "/checkpoint" + q("t", "new\nline", "id", ids["new\nline"])} {
		code, body := c.get(path)
		text := html.UnescapeString(body)
		if code != 200 || !strings.Contains(text, `"new\nline"</`) || strings.Contains(text, "new\nline</") {
			t.Errorf("GET %s: %d, the thread id is not shown quoted", path, code)
		}
	}
}

// The stats page said "computed in 0s" for figures that took a fraction
// of a millisecond (Round(time.Millisecond) of 300µs), which reads as no
// work or a broken clock.
func TestH234StatsTimeHasAUnitAndNoZero(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	code, body := c.get("/stats")
	if code != 200 || strings.Contains(body, "computed in 0s") || !strings.Contains(body, "computed in ") {
		i := strings.Index(body, "computed in")
		t.Errorf("GET /stats: %d %q", code, body[max(0, i-20):min(len(body), i+40)])
	}
}

// A thread whose value record fails its checksum: its page is an error,
// which said only the record's key and the two checksums, with no word of
// what the rest of the store is worth or what to run. The page now says
// the file is damaged there, that the other threads read, and to run
// ckpt verify on the file.
func TestH234DamagedThreadPageSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-OF-THE-DAMAGED-VALUE"
	if _, err := s.Save(ctx, "good", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "bad", map[string]any{"v": marker}, nil); err != nil {
		t.Fatal(err)
	}
	ro := closeAndDamage(t, s, path, marker, strings.ToLower(marker))
	c := newClient(t, web.Handler(ro, web.Options{}))
	code, body := c.get("/thread" + q("t", "bad"))
	text := html.UnescapeString(body)
	// 200 since h240: the page draws the thread around the damage
	// (TestH240ThreadPageDrawsAroundADamagedValue).
	if code != 200 || !strings.Contains(text, "damaged") || !strings.Contains(text, "ckpt verify "+path) {
		t.Errorf("GET /thread?t=bad: %d, does not say the file is damaged and to run ckpt verify %s:\n%s", code, path, text)
	}
	if code, body := c.get("/thread" + q("t", "good")); code != 200 || strings.Contains(body, "ckpt verify") {
		t.Errorf("GET /thread?t=good: %d, or a damage hint on a sound thread", code)
	}
}
