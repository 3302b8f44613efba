package web_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// Without the key (ckpt ui FILE without --key-file), the checkpoint page's
// size column gave every sealed value the size of the library's stand-in
// for it, 14 B, whatever the value: a 3,000-character string and an
// integer alike. A size the page cannot know it must not make up.
func TestSealedValueSizeIsNotTheStandIns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sealed.db")
	keys := &ckpt.Encryption{Keys: []ckpt.Key{{ID: 7, Secret: [32]byte{1, 2, 3}}}}
	s, err := ckpt.Open(path, ckpt.Options{Encryption: keys})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"big": strings.Repeat("s", 3000), "n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	on := newClient(t, web.Handler(s, web.Options{}))
	code, page := on.get("/checkpoint" + q("t", "t", "id", id))
	if code != 200 {
		t.Fatalf("checkpoint page without the key: %d\n%s", code, errorText(page))
	}
	sizes := regexp.MustCompile(`<td class="n[^"]*">([^<]*)</td>`).FindAllStringSubmatch(page, -1)
	if len(sizes) != 2 {
		t.Fatalf("%d size cells, want 2:\n%s", len(sizes), page)
	}
	for _, m := range sizes {
		if strings.HasSuffix(m[1], " B") {
			t.Errorf("a sealed value's size shows as %q without the key", m[1])
		}
	}
}
