package web_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestStatsPageNoNegativeSaving: where the list deltas take more than
// the whole lists would (short lists), the stats page said "saved: list
// deltas -64 B"; it shows none saved, the sentence above says both sizes.
func TestStatsPageNoNegativeSaving(t *testing.T) {
	store, err := ckpt.Open(filepath.Join(t.TempDir(), "short.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// Lists of one and two short items: the delta records cost more.
	for _, items := range [][]string{{"a"}, {"a", "b"}} {
		if _, err := store.Save(t.Context(), "t", map[string]any{"log": items}, ckpt.Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.DeltaSavedBytes >= 0 {
		t.Fatalf("short lists saved %d bytes by deltas: the test needs a store where they cost", st.DeltaSavedBytes)
	}
	_, body := newClient(t, web.Handler(store, web.Options{})).get("/stats")
	if m := regexp.MustCompile(`>-\d+(\.\d+)? (B|KiB|MiB)<`).FindString(body); m != "" {
		t.Fatalf("a negative size on the stats page: %s", m)
	}
	if !strings.Contains(body, "saved: list deltas") {
		t.Fatal("no list deltas bar")
	}
	// It said "(756 B instead of 692 B)", as if the deltas had saved
	// space; the page says they take more, and why (as ckpt stats does).
	if !strings.Contains(body, "whole they would take") || !strings.Contains(body, "gain as lists grow") {
		t.Errorf("the stats page does not say the short lists' deltas take more than whole lists:\n%s", body)
	}
}

// TestPageTimesSayUTC: the pages print times in UTC, where 'ckpt log'
// prints local time: each time says its zone, so a reader east or west of
// Greenwich does not take them for local ones.
func TestPageTimesSayUTC(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}( UTC)?`)
	for _, path := range []string{"/", "/thread" + q("t", "demo"), "/checkpoint" + q("t", "demo", "id", f.ids[2]), "/stats"} {
		_, body := c.get(path)
		found := stamp.FindAllStringSubmatch(body, -1)
		if len(found) == 0 {
			t.Fatalf("GET %s: no time on the page", path)
		}
		for _, m := range found {
			if m[1] == "" {
				t.Fatalf("GET %s: time %q without its zone", path, m[0])
			}
		}
	}
}

// TestErrorPagesSpeakPlainly: an error page said "ckpt: invalid config:
// no checkpoint id given" and "ckpt: not found: thread "nope"": the page's
// heading already gives the status; the text says what was wrong without
// the library's prefix and sentinel words.
func TestErrorPagesSpeakPlainly(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	for _, path := range []string{"/checkpoint" + q("t", "demo"), "/thread" + q("t", "nope"), "/thread" + q("t", strings.Repeat("x", 2000))} {
		_, body := c.get(path)
		for _, jargon := range []string{"ckpt: ", "invalid config"} {
			if strings.Contains(body, jargon) {
				t.Errorf("GET %s: %q on the page:\n%s", path, jargon, body)
			}
		}
	}
}
