package main

// The W2 plot: bytes stored per step and getTuple(latest) latency against
// history length, ckpt and the peer on the same axes.

import (
	"fmt"
	"image/color"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colCkpt     = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colCkptDec  = color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}
	colPeerFull = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colPeerShip = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// plotW2 writes a PNG with two panels to path.
func plotW2(path string, r *w2Result, peers map[string]*peerW2) error {
	bytesPlot := plot.New()
	bytesPlot.Title.Text = "W2: storage growth per step"
	bytesPlot.X.Label.Text = "history length (steps)"
	bytesPlot.Y.Label.Text = "bytes per step (kB, log scale)"
	latPlot := plot.New()
	latPlot.Title.Text = "W2: getTuple(latest) latency, p50 of 10"
	latPlot.X.Label.Text = "history length (steps)"
	latPlot.Y.Label.Text = "µs (log scale)"
	// Log scales: the two stores can differ by orders of magnitude (a
	// store that rewrites the whole state at every step against one that
	// stores only the appended message), and both must stay readable.
	for _, p := range []*plot.Plot{bytesPlot, latPlot} {
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
		p.X.Min = 0
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}

	var ckBytes, ckGet, ckGetDec plotter.XYs
	for _, p := range r.points {
		x := float64(p.N)
		ckBytes = append(ckBytes, plotter.XY{X: x, Y: p.bytesPerStepWindow / 1e3})
		ckGet = append(ckGet, plotter.XY{X: x, Y: p.getP50})
		ckGetDec = append(ckGetDec, plotter.XY{X: x, Y: p.getDecP50})
	}
	// ckpt's growth between the peer's points, the peer's own definition,
	// so the two are compared like for like; the 100-step windows beside.
	var ckSincePoint plotter.XYs
	prevN, prevDisk := 0, int64(0)
	for _, n := range w2PeerPoints(r.steps) {
		if p := r.at(n); p != nil {
			ckSincePoint = append(ckSincePoint, plotter.XY{X: float64(n), Y: float64(p.diskBytes-prevDisk) / float64(n-prevN) / 1e3})
			prevN, prevDisk = n, p.diskBytes
		}
	}
	if err := addSeries(bytesPlot, "ckpt, growth since the previous point", ckSincePoint, colCkpt, false); err != nil {
		return err
	}
	if err := addSeries(bytesPlot, "ckpt, growth over the last 100 steps", ckBytes, colCkptDec, false); err != nil {
		return err
	}
	if err := addSeries(latPlot, "ckpt getTuple (values encoded)", ckGet, colCkpt, false); err != nil {
		return err
	}
	if err := addSeries(latPlot, "ckpt getTuple + decode messages", ckGetDec, colCkptDec, false); err != nil {
		return err
	}
	for _, m := range []string{"full", "shipped"} {
		w := peers[m]
		if w == nil {
			continue
		}
		col, name := colPeerFull, "SqliteSaver FULL"
		if m == "shipped" {
			col, name = colPeerShip, "SqliteSaver shipped"
		}
		var pb, pg plotter.XYs
		points := slices.Clone(w.Points)
		slices.Sort(points)
		for _, n := range points {
			pt, ok := w.At[strconv.Itoa(n)]
			if !ok {
				continue
			}
			pb = append(pb, plotter.XY{X: float64(n), Y: pt.PerStepPrev / 1e3})
			pg = append(pg, plotter.XY{X: float64(n), Y: pt.GetP50})
		}
		if err := addSeries(bytesPlot, name+", growth since the previous point", pb, col, true); err != nil {
			return err
		}
		if err := addSeries(latPlot, name+" getTuple", pg, col, true); err != nil {
			return err
		}
	}

	for _, p := range []*plot.Plot{bytesPlot, latPlot} {
		// an empty panel still needs a positive range on a log axis
		if p.Y.Min <= 0 || p.Y.Max <= p.Y.Min {
			p.Y.Min, p.Y.Max = 1, 10
		}
		// a decade of headroom, where the legend sits above the lines
		p.Y.Max *= 10
	}

	const width, height = 30 * vg.Centimeter, 12 * vg.Centimeter
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadY: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4, PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{bytesPlot, latPlot}}
	canvases := plot.Align(plots, tiles, dc)
	bytesPlot.Draw(canvases[0][0])
	latPlot.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// addSeries adds a line with point markers (dashed for the peer). Points
// at or below zero (a window in which the file did not grow) cannot sit on
// a log axis and are left out.
func addSeries(p *plot.Plot, name string, xys plotter.XYs, col color.Color, dashed bool) error {
	xys = slices.DeleteFunc(slices.Clone(xys), func(xy plotter.XY) bool { return xy.Y <= 0 })
	if len(xys) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, s.Color = col, col
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		s.Shape = draw.BoxGlyph{}
		s.Radius = vg.Points(3.5)
	} else {
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(2)
	}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}
