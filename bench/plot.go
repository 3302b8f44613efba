package main

// The W2 plot: bytes stored per step and getTuple(latest) latency against
// history length, ckpt and the peer on the same axes. It is written as SVG
// by hand: a chart library (gonum/plot) pulled fonts, image and PDF
// packages into every cold build of the bench module for this one figure,
// while SVG is text and needs none of them.

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

const (
	colCkpt     = "#1f77b4"
	colCkptDec  = "#17becf"
	colPeerFull = "#d62728"
	colPeerShip = "#ff7f0e"
)

// plotXY is one point of a series.
type plotXY struct{ X, Y float64 }

// plotSeries is one line of a panel; the peer's are dashed with square markers.
type plotSeries struct {
	name   string
	pts    []plotXY
	color  string
	dashed bool
}

// plotPanel is one chart: a linear x axis from 0 and a log y axis.
type plotPanel struct {
	title, xLabel, yLabel string
	series                []plotSeries
}

// plotW2 writes an SVG with two panels side by side to path.
func plotW2(path string, r *w2Result, peers map[string]*peerW2) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := writeSVG(w, w2Panels(r, peers)); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// w2Panels gathers the series of the two panels. Points at or below zero
// (a window in which the file did not grow) cannot sit on a log axis and
// are left out; a series left with no point is dropped.
func w2Panels(r *w2Result, peers map[string]*peerW2) []plotPanel {
	bytesP := plotPanel{title: "W2: storage growth per step", xLabel: "history length (steps)", yLabel: "bytes per step (kB, log scale)"}
	latP := plotPanel{title: "W2: getTuple(latest) latency, p50 of 10", xLabel: "history length (steps)", yLabel: "µs (log scale)"}
	add := func(p *plotPanel, name string, pts []plotXY, col string, dashed bool) {
		pts = slices.DeleteFunc(pts, func(q plotXY) bool { return !(q.Y > 0) || math.IsInf(q.Y, 0) })
		if len(pts) > 0 {
			p.series = append(p.series, plotSeries{name: name, pts: pts, color: col, dashed: dashed})
		}
	}

	var ckBytes, ckGet, ckGetDec []plotXY
	for _, p := range r.points {
		x := float64(p.N)
		ckBytes = append(ckBytes, plotXY{x, p.bytesPerStepWindow / 1e3})
		ckGet = append(ckGet, plotXY{x, p.getP50})
		ckGetDec = append(ckGetDec, plotXY{x, p.getDecP50})
	}
	// ckpt's growth between the peer's points, the peer's own definition,
	// so the two are compared like for like; the 100-step windows beside.
	var ckSincePoint []plotXY
	prevN, prevDisk := 0, int64(0)
	for _, n := range w2PeerPoints(r.steps) {
		if p := r.at(n); p != nil {
			ckSincePoint = append(ckSincePoint, plotXY{float64(n), float64(p.diskBytes-prevDisk) / float64(n-prevN) / 1e3})
			prevN, prevDisk = n, p.diskBytes
		}
	}
	add(&bytesP, "ckpt, growth since the previous point", ckSincePoint, colCkpt, false)
	add(&bytesP, "ckpt, growth over the last 100 steps", ckBytes, colCkptDec, false)
	add(&latP, "ckpt getTuple (values encoded)", ckGet, colCkpt, false)
	add(&latP, "ckpt getTuple + decode messages", ckGetDec, colCkptDec, false)
	for _, m := range []string{"full", "shipped"} {
		w := peers[m]
		if w == nil {
			continue
		}
		col, name := colPeerFull, "SqliteSaver FULL"
		if m == "shipped" {
			col, name = colPeerShip, "SqliteSaver shipped"
		}
		var pb, pg []plotXY
		points := slices.Clone(w.Points)
		slices.Sort(points)
		for _, n := range points {
			pt, ok := w.At[strconv.Itoa(n)]
			if !ok {
				continue
			}
			pb = append(pb, plotXY{float64(n), pt.PerStepPrev / 1e3})
			pg = append(pg, plotXY{float64(n), pt.GetP50})
		}
		add(&bytesP, name+", growth since the previous point", pb, col, true)
		add(&latP, name+" getTuple", pg, col, true)
	}
	return []plotPanel{bytesP, latP}
}

// The figure's geometry, in SVG user units (px): two panels side by side,
// each with margins for its title, tick labels and axis labels.
const (
	svgPanelW, svgH                    = 560.0, 440.0
	svgLeft, svgRight, svgTop, svgBott = 72.0, 16.0, 36.0, 52.0
	svgFont                            = `font-family="sans-serif"`
)

// writeSVG draws the panels side by side.
func writeSVG(w io.Writer, panels []plotPanel) error {
	var b strings.Builder
	width := svgPanelW * float64(len(panels))
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" %s font-size=\"12\">\n",
		svgNum(width), svgNum(svgH), svgNum(width), svgNum(svgH), svgFont)
	fmt.Fprintf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n")
	for i, p := range panels {
		drawPanel(&b, p, float64(i)*svgPanelW)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// yDecades is the log axis of a panel, as powers of ten: from the decade
// at or below the smallest point to one above the decade at or above the
// largest, a decade of headroom where the legend sits above the lines. An
// empty panel still gets the range 1-10 (plus the headroom).
func (p plotPanel) yDecades() (lo, hi int) {
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range p.series {
		for _, q := range s.pts {
			ymin, ymax = min(ymin, q.Y), max(ymax, q.Y)
		}
	}
	if !(ymin > 0) || ymax < ymin {
		ymin, ymax = 1, 10
	}
	lo, hi = int(math.Floor(math.Log10(ymin))), int(math.Ceil(math.Log10(ymax)))
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi + 1
}

// xTicks is a linear axis from 0: a step of 1, 2 or 5 times a power of ten
// giving at most about 6 intervals, and the axis ends on a tick.
func (p plotPanel) xTicks() (step, xmax float64) {
	xmax = 0
	for _, s := range p.series {
		for _, q := range s.pts {
			xmax = max(xmax, q.X)
		}
	}
	if xmax <= 0 {
		xmax = 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(xmax/6)))
	step = 5 * mag
	for _, m := range []float64{1, 2, 5} {
		if xmax/(m*mag) <= 6 {
			step = m * mag
			break
		}
	}
	return step, math.Ceil(xmax/step-1e-9) * step
}

func drawPanel(b *strings.Builder, p plotPanel, x0 float64) {
	// plot area
	l, r := x0+svgLeft, x0+svgPanelW-svgRight
	t, bot := svgTop, svgH-svgBott
	step, xmax := p.xTicks()
	lo, hi := p.yDecades()
	px := func(x float64) float64 { return l + (r-l)*x/xmax }
	py := func(y float64) float64 {
		return bot - (bot-t)*(math.Log10(y)-float64(lo))/float64(hi-lo)
	}

	fmt.Fprintf(b, "<g class=\"panel\">\n")
	fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"14\" class=\"title\">%s</text>\n",
		svgNum((l+r)/2), svgNum(t-14), svgEsc(p.title))

	// grid and ticks: x at every step, y at every decade (labelled) with
	// unlabelled minor ticks at 2..9 times it
	const grid = `stroke="#dddddd" stroke-width="1"`
	for i := 0; ; i++ {
		x := float64(i) * step
		if x > xmax*(1+1e-9) {
			break
		}
		X := svgNum(px(x))
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", X, svgNum(t), X, svgNum(bot), grid)
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n", X, svgNum(bot), X, svgNum(bot+5))
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" class=\"xtick\">%s</text>\n", X, svgNum(bot+18), svgNum(x))
	}
	for k := lo; k <= hi; k++ {
		v := math.Pow(10, float64(k))
		Y := svgNum(py(v))
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", svgNum(l), Y, svgNum(r), Y, grid)
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n", svgNum(l-6), Y, svgNum(l), Y)
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\" class=\"ytick\">%s</text>\n", svgNum(l-9), svgNum(py(v)+4), svgDecade(k))
		if k == hi {
			break
		}
		for m := 2; m <= 9; m++ {
			Y := svgNum(py(float64(m) * v))
			fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n", svgNum(l-3), Y, svgNum(l), Y)
		}
	}
	fmt.Fprintf(b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" stroke=\"black\"/>\n",
		svgNum(l), svgNum(t), svgNum(r-l), svgNum(bot-t))
	fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" class=\"xlabel\">%s</text>\n",
		svgNum((l+r)/2), svgNum(svgH-12), svgEsc(p.xLabel))
	fmt.Fprintf(b, "<text transform=\"translate(%s %s) rotate(-90)\" text-anchor=\"middle\" class=\"ylabel\">%s</text>\n",
		svgNum(x0+16), svgNum((t+bot)/2), svgEsc(p.yLabel))

	// the series, then the legend over them at the top left, in the
	// decade of headroom
	for _, s := range p.series {
		pts := make([]string, len(s.pts))
		for i, q := range s.pts {
			pts[i] = svgNum(px(q.X)) + "," + svgNum(py(q.Y))
		}
		fmt.Fprintf(b, "<polyline class=\"series\" points=\"%s\" fill=\"none\" %s/>\n", strings.Join(pts, " "), svgLineStyle(s))
		for _, q := range s.pts {
			svgMarker(b, s, px(q.X), py(q.Y))
		}
	}
	if len(p.series) > 0 {
		const rowH = 15.0
		lx, ly := l+8, t+8
		fmt.Fprintf(b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>\n",
			svgNum(lx), svgNum(ly), svgNum(r-l-16), svgNum(rowH*float64(len(p.series))+6))
		for i, s := range p.series {
			y := ly + 3 + rowH*(float64(i)+0.5)
			fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", svgNum(lx+6), svgNum(y), svgNum(lx+34), svgNum(y), svgLineStyle(s))
			svgMarker(b, s, lx+20, y)
			fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" font-size=\"11\" class=\"legend\">%s</text>\n", svgNum(lx+42), svgNum(y+4), svgEsc(s.name))
		}
	}
	b.WriteString("</g>\n")
}

func svgLineStyle(s plotSeries) string {
	st := `stroke="` + s.color + `" stroke-width="1.5"`
	if s.dashed {
		st += ` stroke-dasharray="5 3"`
	}
	return st
}

// marker draws a point: a circle for ckpt, a square for the peer.
func svgMarker(b *strings.Builder, s plotSeries, x, y float64) {
	if s.dashed {
		fmt.Fprintf(b, "<rect x=\"%s\" y=\"%s\" width=\"7\" height=\"7\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\"/>\n", svgNum(x-3.5), svgNum(y-3.5), s.color)
		return
	}
	fmt.Fprintf(b, "<circle cx=\"%s\" cy=\"%s\" r=\"2.5\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\"/>\n", svgNum(x), svgNum(y), s.color)
}

// decade labels 10^k: plain digits where they stay short, 1e-5 / 1e7 beyond.
func svgDecade(k int) string {
	if k >= -4 && k <= 6 {
		return strconv.FormatFloat(math.Pow(10, float64(k)), 'f', -1, 64)
	}
	return "1e" + strconv.Itoa(k)
}

// num prints a coordinate with at most two decimals.
func svgNum(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// esc makes text safe inside an SVG element or attribute.
func svgEsc(s string) string { return html.EscapeString(s) }
