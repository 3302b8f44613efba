package web

import (
	"html/template"
	"strings"
	"testing"
)

func col(x int) int { return (x - graphColW/2) / graphColW }

func TestGraphDrawsAForkAsTwoBranchesThatMeet(t *testing.T) {
	// Newest first: F forks from B; D-C-B-A is the main line; S2-S1 is a
	// subgraph namespace.
	rows := layoutGraph([]histNode{
		{ID: "S2", Parent: "S1", NS: "sub"},
		{ID: "F", Parent: "B"},
		{ID: "D", Parent: "C"},
		{ID: "S1", NS: "sub"},
		{ID: "C", Parent: "B"},
		{ID: "B", Parent: "A"},
		{ID: "A"},
	})
	wantCol := []int{2, 0, 1, 2, 1, 0, 0}
	for i, r := range rows {
		if got := col(r.DotX); got != wantCol[i] {
			t.Errorf("row %d: column %d, want %d", i, got, wantCol[i])
		}
	}
	if rows[0].Lane == rows[1].Lane {
		t.Error("the subgraph namespace shares the root's lane colour")
	}
	// Below C its branch (column 1) joins column 0, which F's branch
	// holds down to their parent B: a diagonal at the foot of C's row.
	joined := false
	for _, l := range rows[4].Lines {
		if col(l.X1) == 1 && col(l.X2) == 0 {
			joined = true
		}
	}
	if !joined {
		t.Errorf("no line joins the fork's branches below C: %+v", rows[4].Lines)
	}
	// A has no parent: nothing runs below its dot.
	for _, l := range rows[6].Lines {
		if l.Y2 > rows[6].DotY {
			t.Errorf("a line runs below the first checkpoint: %+v", l)
		}
	}
	// Every row is as wide as the widest: columns line up.
	for i, r := range rows {
		if r.Width != rows[0].Width {
			t.Errorf("row %d width %d, row 0 %d", i, r.Width, rows[0].Width)
		}
	}
}

// The row's SVG, written directly, is the markup html/template made of it.
func TestGraphSVGIsWhatTheTemplateWrote(t *testing.T) {
	tmpl := template.Must(template.New("svg").Parse(`<svg width="{{.Width}}" height="{{.Height}}" aria-hidden="true">{{range .Lines}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" class="edge lane{{.Lane}}"/>{{end}}<circle cx="{{.DotX}}" cy="{{.DotY}}" r="5" class="dot lane{{.Lane}}"/></svg>`))
	rows := layoutGraph([]histNode{
		{ID: "d", Parent: "b"}, {ID: "c", Parent: "b"}, {ID: "s2", Parent: "s1", NS: "sub"},
		{ID: "b", Parent: "a"}, {ID: "s1", NS: "sub"}, {ID: "a"},
	})
	rows = append(rows, graphRow{})
	for i, r := range rows {
		var want strings.Builder
		if err := tmpl.Execute(&want, r); err != nil {
			t.Fatal(err)
		}
		if got := string(r.SVG()); got != want.String() {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want.String())
		}
	}
}
