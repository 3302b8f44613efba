package web

import (
	"html/template"
	"slices"
	"sort"
	"strconv"
)

// The history graph of a thread page: one small SVG per row, drawn on the
// server, the way `git log --graph` draws a history. Each checkpoint gets
// a column; a column then waits for the checkpoint's parent. Two columns
// waiting for one parent are two branches that meet at their fork point.
// Each namespace has its own group of columns (a lane), so a subgraph's
// checkpoints run beside the root graph's.

// histNode is one row of the history, newest first.
type histNode struct {
	ID, Parent, NS string
}

// gline is one line of a row's SVG.
type gline struct {
	X1, Y1, X2, Y2 int
	Lane           int
}

// graphRow is the drawing of one row.
type graphRow struct {
	Width, Height int
	Lines         []gline
	DotX, DotY    int
	Lane          int
}

// SVG is the row's drawing as markup. It holds only numbers this package
// computed, no user data, so it is written directly: through the template
// it was a dozen escaped actions a row, each a reflective call, and a fifth
// of the thread page's allocations (BenchmarkPages/thread: 19.6k to 15.4k).
func (g graphRow) SVG() template.HTML {
	b := make([]byte, 0, 160+100*len(g.Lines))
	num := func(prefix string, n int) {
		b = append(b, prefix...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	num(`<svg width="`, g.Width)
	num(`" height="`, g.Height)
	b = append(b, `" aria-hidden="true">`...)
	for _, l := range g.Lines {
		num(`<line x1="`, l.X1)
		num(`" y1="`, l.Y1)
		num(`" x2="`, l.X2)
		num(`" y2="`, l.Y2)
		num(`" class="edge lane`, l.Lane)
		b = append(b, `"/>`...)
	}
	num(`<circle cx="`, g.DotX)
	num(`" cy="`, g.DotY)
	num(`" r="5" class="dot lane`, g.Lane)
	b = append(b, `"/></svg>`...)
	return template.HTML(b)
}

const (
	graphColW = 14
	graphRowH = 28
)

// segment is a line of a row in namespace-local columns, before the
// lanes' offsets are known.
type segment struct {
	ns     string
	c1, c2 int
	y1, y2 int
}

// layoutGraph draws the rows of one page. A parent that is not on the page
// leaves its column running to the bottom of the page.
func layoutGraph(nodes []histNode) []graphRow {
	var nss []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if !seen[n.NS] {
			seen[n.NS] = true
			nss = append(nss, n.NS)
		}
	}
	sort.Strings(nss) // "" (the root graph) first
	laneOf := map[string]int{}
	for i, ns := range nss {
		laneOf[ns] = i
	}
	active := map[string][]string{}
	width := map[string]int{}
	mid := graphRowH / 2
	type rowSegs struct {
		segs []segment
		ns   string
		col  int
	}
	rows := make([]rowSegs, len(nodes))
	for i, n := range nodes {
		act := active[n.NS]
		col, merges := -1, []int(nil)
		for c, want := range act {
			if want == n.ID {
				if col < 0 {
					col = c
				} else {
					merges = append(merges, c)
				}
			}
		}
		var segs []segment
		for _, ns := range nss {
			for c, want := range active[ns] {
				switch {
				case want == "":
				case ns != n.NS || want != n.ID:
					segs = append(segs, segment{ns: ns, c1: c, c2: c, y1: 0, y2: graphRowH})
				}
			}
		}
		if col < 0 {
			for c, want := range act {
				if want == "" {
					col = c
					break
				}
			}
			if col < 0 {
				col = len(act)
				act = append(act, "")
			}
		} else {
			segs = append(segs, segment{ns: n.NS, c1: col, c2: col, y1: 0, y2: mid})
		}
		for _, m := range merges {
			segs = append(segs, segment{ns: n.NS, c1: m, c2: col, y1: 0, y2: mid})
			act[m] = ""
		}
		act[col] = n.Parent
		if n.Parent != "" {
			down := segment{ns: n.NS, c1: col, c2: col, y1: mid, y2: graphRowH}
			// A column already waits for this parent (a sibling above):
			// the two branches join here, into the leftmost, so a page of
			// many forks of one checkpoint is two columns wide, not one a
			// fork (500 forks: 500 columns and lines a row, 8 MB a page).
			if other := slices.Index(act, n.Parent); other != col || slices.Index(act[col+1:], n.Parent) >= 0 {
				if other == col {
					other = col + 1 + slices.Index(act[col+1:], n.Parent)
				}
				keep, drop := min(col, other), max(col, other)
				if drop == col {
					down.c2 = keep
				} else {
					// The other column runs through this row: it bends
					// into this checkpoint's line at the row's foot.
					for j, sg := range segs {
						if sg.ns == n.NS && sg.c1 == drop && sg.c2 == drop && sg.y1 == 0 && sg.y2 == graphRowH {
							segs[j].c2 = keep
						}
					}
				}
				act[drop] = ""
			}
			segs = append(segs, down)
		}
		for len(act) > 0 && act[len(act)-1] == "" {
			act = act[:len(act)-1]
		}
		active[n.NS] = act
		width[n.NS] = max(width[n.NS], len(act), col+1)
		rows[i] = rowSegs{segs: segs, ns: n.NS, col: col}
	}
	offset := map[string]int{}
	total := 0
	for _, ns := range nss {
		offset[ns] = total
		total += width[ns]
	}
	x := func(ns string, c int) int { return (offset[ns]+c)*graphColW + graphColW/2 }
	out := make([]graphRow, len(nodes))
	for i, r := range rows {
		g := graphRow{Width: total*graphColW + 4, Height: graphRowH, DotX: x(r.ns, r.col), DotY: mid, Lane: laneOf[r.ns] % 6}
		for _, s := range r.segs {
			g.Lines = append(g.Lines, gline{X1: x(s.ns, s.c1), Y1: s.y1, X2: x(s.ns, s.c2), Y2: s.y2, Lane: laneOf[s.ns] % 6})
		}
		out[i] = g
	}
	return out
}
