package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestPagesShowMapsWithNonStringKeys: a channel value or a pending write
// may be a map with integer keys (the store keeps any key type in values;
// only metadata must have string keys). Raw.Value refuses to decode such a
// map into map[string]any (ErrDecode: the bytes are sound), and every page
// that drew the value answered 500 for a checkpoint that is fine.
func TestPagesShowMapsWithNonStringKeys(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "keys.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.Save(ctx, "t", map[string]any{"ikeys": map[int]string{7: "seven-a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", map[string]any{"ikeys": map[int]any{7: "seven-b", 8: map[bool]int{true: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: b}, []ckpt.Write{{Channel: "w", Value: map[int]string{9: "nine"}}}, "task-1", ""); err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{AllowWrites: true}))
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/checkpoint" + q("t", "t", "id", b), []string{"seven-b", "nine"}},
		{"/value" + q("t", "t", "id", b, "ch", "ikeys"), []string{"seven-b"}},
		{"/diff" + q("t", "t", "a", a, "b", b), []string{"seven-a", "seven-b"}},
	} {
		code, page := on.get(c.path)
		if code != 200 {
			t.Errorf("%s: %d, want 200\n%s", c.path, code, errorText(page))
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: %q not on the page", c.path, w)
			}
		}
	}
}

// errorText is the message of an error page (the whole page otherwise).
func errorText(page string) string {
	if _, rest, ok := strings.Cut(page, `<p class="error">`); ok {
		msg, _, _ := strings.Cut(rest, "</p>")
		return msg
	}
	return page
}
