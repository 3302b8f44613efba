package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// A deep page of a thread (reached through "older →") had no way one page
// back up: only "← newest". Walking down with "older" and back up with
// "newer" must show the same pages, with and without a filter, and the
// first page has no "newer".
func TestNewerLinksWalkBackUpThePages(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "pages.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 11 {
		if _, err := s.Save(ctx, "p", map[string]any{"i": i}, ckpt.Metadata{"kind": []string{"a", "b"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, web.Handler(s, web.Options{PageSize: 2}))
	link := func(body, id string) string {
		m := regexp.MustCompile(`href="(/thread\?[^"]+)" id="` + id + `"`).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	rows := regexp.MustCompile(`title="([0-9A-Z]{26})"`)
	get := func(path string) string {
		t.Helper()
		resp, err := c.srv.Client().Get(c.srv.URL + path) // follows redirects
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	ids := func(body string) (out []string) {
		for _, m := range rows.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for _, filter := range []string{"", "kind=a"} {
		t.Run(fmt.Sprintf("filter=%q", filter), func(t *testing.T) {
			var down [][]string
			body := get("/thread" + q("t", "p", "filter", filter))
			if l := link(body, "newer"); l != "" {
				t.Errorf("the first page links to a newer page: %s", l)
			}
			for {
				down = append(down, ids(body))
				next := link(body, "older")
				if next == "" {
					break
				}
				if len(down) > 10 {
					t.Fatal("paging does not end")
				}
				body = get(next)
			}
			for i := len(down) - 2; i >= 0; i-- {
				up := link(body, "newer")
				if up == "" {
					t.Fatalf("page %d of %d has no link to a newer page", i+2, len(down))
				}
				body = get(up)
				if got := ids(body); !slices.Equal(got, down[i]) {
					t.Fatalf("newer from page %d shows %v, want page %d's %v", i+2, got, i+1, down[i])
				}
			}
			if l := link(body, "newer"); l != "" {
				t.Errorf("back on the first page, a newer link: %s", l)
			}
		})
	}
}
