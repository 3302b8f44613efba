package main

// The side-by-side table and the target checks, printed as Markdown pipe
// tables so the output can go into RESULTS.md unchanged.

import (
	"fmt"
	"io"
	"math"
	"strings"
)

var nan = math.NaN()

// row is one figure: ckpt's value and the peer's in both durability modes.
// A ratio is always ckpt / peer; higher says whether a higher value is the
// better one (steps/s) or the worse one (bytes, latency).
type row struct {
	label         string
	unit          string
	higher        bool
	ckpt          float64
	full, shipped float64 // NaN: the peer has no such figure (or no peer)
}

func (r row) ratio(peer float64) float64 { return r.ckpt / peer }

// target is one goal from the issues, checked on measured figures.
type target struct {
	issue, goal string
	measured    float64 // a ratio
	want        float64
	atMost      bool   // the measured ratio must be <= want (else >=)
	what        string // what the ratio divides
	reportOnly  bool   // a figure the issue asks to report, not a goal
}

func (t target) verdict() string {
	switch {
	case t.reportOnly:
		return "reported"
	case math.IsNaN(t.measured) || math.IsInf(t.measured, 0):
		return "not measured"
	case t.atMost && t.measured <= t.want, !t.atMost && t.measured >= t.want:
		return "**met**"
	default:
		return "**missed**"
	}
}

// num formats a figure for the table.
func num(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case unit == "count":
		return fmt.Sprintf("%.0f", v)
	case unit == "bytes" && v >= 1e6:
		return fmt.Sprintf("%.2f MB", v/1e6)
	case unit == "bytes" && v >= 1e4:
		return fmt.Sprintf("%.1f kB", v/1e3)
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratioStr(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	switch {
	case v >= 10:
		return fmt.Sprintf("%.1fx", v)
	case v >= 0.1:
		return fmt.Sprintf("%.2fx", v)
	default:
		return fmt.Sprintf("%.3fx", v)
	}
}

// mdTable writes a Markdown table with aligned columns.
func mdTable(w io.Writer, head []string, rows [][]string, right []bool) {
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if right[i] {
				fmt.Fprintf(&b, " %s%s |", pad, c)
			} else {
				fmt.Fprintf(&b, " %s%s |", c, pad)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(head)
	sep := make([]string, len(head))
	for i := range head {
		d := strings.Repeat("-", max(width[i]-1, 1))
		if right[i] {
			sep[i] = d + ":"
		} else {
			sep[i] = "-" + d
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(func() []string {
		out := make([]string, len(sep))
		for i, s := range sep {
			out[i] = " " + s + " "
		}
		return out
	}(), "|")+"|")
	for _, r := range rows {
		line(r)
	}
}

// writeFigures prints the side-by-side table. withPeer adds the peer's
// columns.
func writeFigures(w io.Writer, rows []row, withPeer bool) {
	head := []string{"figure", "unit", "ckpt"}
	right := []bool{false, false, true}
	if withPeer {
		head = append(head, "SqliteSaver FULL", "ckpt/FULL", "SqliteSaver shipped", "ckpt/shipped")
		right = append(right, true, true, true, true)
	}
	var cells [][]string
	for _, r := range rows {
		unit := r.unit
		if r.higher {
			unit += " ↑"
		} else {
			unit += " ↓"
		}
		c := []string{r.label, unit, num(r.ckpt, r.unit)}
		if withPeer {
			c = append(c, num(r.full, r.unit), ratioStr(r.ratio(r.full)), num(r.shipped, r.unit), ratioStr(r.ratio(r.shipped)))
		}
		cells = append(cells, c)
	}
	mdTable(w, head, cells, right)
}

// writeTargets prints each target with its measured ratio and verdict.
func writeTargets(w io.Writer, ts []target) {
	var cells [][]string
	for _, t := range ts {
		op := "≥"
		if t.atMost {
			op = "≤"
		}
		want := fmt.Sprintf("%s %gx", op, t.want)
		if t.reportOnly {
			want = "–"
		}
		cells = append(cells, []string{t.issue, t.goal, want, ratioStr(t.measured), t.what, t.verdict()})
	}
	mdTable(w, []string{"issue", "target", "want", "measured", "ratio of", "verdict"}, cells, []bool{false, false, true, true, false, false})
}
