package web

import "testing"

// A page of forks of one checkpoint (retries from the same step, a
// LangGraph time travel done many times) drew a column per fork, each
// running down to their parent: 500 forks made every row's SVG 500
// columns (7,000 px) wide with 500 lines, an 8 MB page. Branches waiting
// for the same parent join as they meet: the graph is as wide as the
// number of distinct parents waited for, plus one.
func TestGraphOfManyForksOfOneCheckpointStaysNarrow(t *testing.T) {
	for _, parentOnPage := range []bool{false, true} {
		var nodes []histNode
		for i := range 200 {
			nodes = append(nodes, histNode{ID: string(rune(0x1000 + i)), Parent: "P"})
		}
		if parentOnPage {
			nodes = append(nodes, histNode{ID: "P"})
		}
		rows := layoutGraph(nodes)
		for i, r := range rows {
			if cols := (r.Width - 4) / graphColW; cols > 2 {
				t.Fatalf("parent on the page %v: row %d is %d columns wide, want at most 2", parentOnPage, i, cols)
			}
			if len(r.Lines) > 4 {
				t.Fatalf("parent on the page %v: row %d draws %d lines", parentOnPage, i, len(r.Lines))
			}
		}
	}
}
