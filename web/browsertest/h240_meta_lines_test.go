package browsertest

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
)

// A metadata value of several lines (a "reason" a model wrote) was drawn
// in its cell with its newlines as the browser draws them in running
// text: as spaces, so "first line" and "second line" ran together into
// one line that read as one sentence, and the short node "a\nb" read as
// "a b". The cell marks each line break, the row stays one row of the
// graph, its title holds the value as it is, and markup in it stays text.
func TestH240MetadataOfSeveralLinesReadsAsLines(t *testing.T) {
	ctx := context.Background()
	s := openNoSync(t, "lines.db")
	const reason = "first line\nsecond line\r\n<b>third</b> line"
	for i := range 3 {
		if _, err := s.Save(ctx, "lines", map[string]any{"v": i}, ckpt.Metadata{"reason": reason, "node": "a\nb", "step": i}); err != nil {
			t.Fatal(err)
		}
	}
	srv := serve(t, s)
	bctx, ev := browser(t)
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t=lines"), chromedp.WaitVisible("#history"))
	type cell struct {
		Text, Title string
		Height      float64
		Markup      int
	}
	// The reason and node cells of each row: what the reader sees
	// (innerText), the title, the row's height, and any <b> element.
	cells := run(t, bctx, "cells", chromedp.Evaluate[[]cell](`(() => {
		const head = [...document.querySelectorAll("#history thead th")].map(th => th.textContent);
		const out = [];
		for (const tr of document.querySelectorAll("#history tbody tr.cp")) {
			for (const name of ["reason", "node"]) {
				const td = tr.cells[head.indexOf(name)];
				out.push({Text: td.innerText, Title: td.title, Height: tr.getBoundingClientRect().height, Markup: td.querySelectorAll("b").length});
			}
		}
		return out;
	})()`))
	if len(cells) != 6 {
		t.Fatalf("%d cells, want 6 (reason and node of 3 rows)", len(cells))
	}
	for i, c := range cells {
		want, first, second := reason, "first line", "second line"
		if i%2 == 1 {
			want, first, second = "a\nb", "a", "b"
		}
		// HTML's parser reads CRLF as LF, in attributes as in text.
		if want := strings.ReplaceAll(want, "\r\n", "\n"); c.Title != want {
			t.Errorf("cell %d: title %q, want the value %q", i, c.Title, want)
		}
		a, b := strings.Index(c.Text, first), strings.LastIndex(c.Text, second)
		if a < 0 || b < 0 || strings.TrimSpace(c.Text[a+len(first):b]) == "" {
			t.Errorf("cell %d: %q: the lines of %q run together, nothing marks where one ends", i, c.Text, want)
		}
		if c.Markup != 0 {
			t.Errorf("cell %d: markup of the value became an element", i)
		}
		if math.Abs(c.Height-cells[0].Height) >= 1 {
			t.Errorf("cell %d: its row is %.1f px tall, the first %.1f px: a value of several lines made its row taller", i, c.Height, cells[0].Height)
		}
	}
	// The threads page's last node, too.
	do(t, bctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	node := run(t, bctx, "last node", chromedp.Evaluate[string](`document.querySelector("#threads tbody tr").cells[5].innerText`))
	if i := strings.Index(node, "a"); i < 0 || !strings.Contains(node, "b") || strings.TrimSpace(node[i+1:strings.LastIndex(node, "b")]) == "" {
		t.Errorf("threads page: last node %q: the lines of \"a\\nb\" run together", node)
	}
	ev.check(t)
}
