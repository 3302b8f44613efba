package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestPagesShowValuesOfUnknownExtTypes: a program that registered its own
// msgpack extension type (msgpack.RegisterExt) stores values holding it;
// ckpt ui, ckpt show and any other process that did not register it read
// sound bytes they cannot turn into a Go value. The checkpoint page
// answered 500 ("unknown ext id") for the whole checkpoint; it draws such
// an item as its ext id and bytes, and the rest of the value as usual.
func TestPagesShowValuesOfUnknownExtTypes(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "ext.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// ["visible-item", ext 42 holding 0x01 0x02, {"k": ext 42 holding 0x03}]
	raw := ckpt.Raw{0x93, 0xac}
	raw = append(raw, "visible-item"...)
	raw = append(raw, 0xd5, 42, 1, 2, 0x81, 0xa1, 'k', 0xd4, 42, 3)
	id, err := s.Save(ctx, "t", map[string]any{"custom": raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{}))
	for _, p := range []string{"/checkpoint" + q("t", "t", "id", id), "/value" + q("t", "t", "id", id, "ch", "custom")} {
		code, page := on.get(p)
		if code != 200 {
			t.Errorf("%s: %d, want 200\n%s", p, code, errorText(page))
			continue
		}
		for _, want := range []string{"visible-item", "ext 42"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: %q not on the page", p, want)
			}
		}
	}
}
