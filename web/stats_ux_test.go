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
}
