package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
	"github.com/vmihailenco/msgpack/v5"
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
	// Beside an unknown extension, msgpack's own time extension (-1) in
	// its three sizes still reads as the time it is.
	var times ckpt.Raw
	for _, tm := range []time.Time{time.Unix(1700000000, 0), time.Unix(1700000000, 123456789), time.Unix(-5, 7)} {
		b, err := msgpack.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, b...)
	}
	withTime := append(ckpt.Raw{0x94, 0xd4, 42, 9}, times...)
	id, err := s.Save(ctx, "t", map[string]any{"custom": raw, "times": withTime}, nil)
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{}))
	all := []string{"visible-item", "ext 42", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789Z", "1969-12-31T23:59:55.000000007Z"}
	for p, wants := range map[string][]string{
		"/checkpoint" + q("t", "t", "id", id):            all,
		"/value" + q("t", "t", "id", id, "ch", "custom"): all[:2],
		"/value" + q("t", "t", "id", id, "ch", "times"):  all[1:],
	} {
		code, page := on.get(p)
		if code != 200 {
			t.Errorf("%s: %d, want 200\n%s", p, code, errorText(page))
			continue
		}
		for _, want := range wants {
			if !strings.Contains(page, want) {
				t.Errorf("%s: %q not on the page", p, want)
			}
		}
	}
}
