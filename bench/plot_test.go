package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgPanel is what a test reads back from one panel of the W2 SVG.
type svgPanel struct {
	title     string
	yTicks    []string // decade labels, bottom to top
	polylines []int    // points per polyline
	legend    []string
}

// readSVG decodes the file with encoding/xml (so it must be well-formed)
// and returns its panels.
func readSVG(t *testing.T, path string) []svgPanel {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	var panels []svgPanel
	var class string // class of the open <text>
	var root bool
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch e.Name.Local {
			case "svg":
				root = e.Name.Space == "http://www.w3.org/2000/svg"
			case "g":
				if attr("class") == "panel" {
					panels = append(panels, svgPanel{})
				}
			case "polyline":
				if len(panels) == 0 {
					t.Fatal("polyline outside a panel")
				}
				p := &panels[len(panels)-1]
				p.polylines = append(p.polylines, len(strings.Fields(attr("points"))))
			case "text":
				class = attr("class")
			}
		case xml.EndElement:
			if e.Name.Local == "text" {
				class = ""
			}
		case xml.CharData:
			if class == "" || len(panels) == 0 {
				continue
			}
			p, s := &panels[len(panels)-1], string(e)
			switch class {
			case "title":
				p.title = s
			case "ytick":
				p.yTicks = append(p.yTicks, s)
			case "legend":
				p.legend = append(p.legend, s)
			}
		}
	}
	if !root {
		t.Fatalf("%s has no SVG root element", path)
	}
	return panels
}

// checkSVG checks the file against the panels it was drawn from: both
// titles, one polyline per series with all its points, the legend, and a
// log axis whose labelled decades cover the data with a decade of
// headroom (1-10 for an empty panel).
func checkSVG(t *testing.T, path string, want []plotPanel) {
	t.Helper()
	got := readSVG(t, path)
	if len(got) != len(want) {
		t.Fatalf("%d panels, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.title != w.title {
			t.Errorf("panel %d: title %q, want %q", i, g.title, w.title)
		}
		var pts []int
		var names []string
		ymin, ymax := 1.0, 10.0
		for j, s := range w.series {
			pts = append(pts, len(s.pts))
			names = append(names, s.name)
			for k, q := range s.pts {
				if !(q.Y > 0) {
					t.Errorf("panel %d: series %q keeps point %v", i, s.name, q)
				}
				if j == 0 && k == 0 {
					ymin, ymax = q.Y, q.Y
				}
				ymin, ymax = min(ymin, q.Y), max(ymax, q.Y)
			}
		}
		if !slices.Equal(g.polylines, pts) {
			t.Errorf("panel %d: polylines with %v points, want %v", i, g.polylines, pts)
		}
		if !slices.Equal(g.legend, names) {
			t.Errorf("panel %d: legend %q, want %q", i, g.legend, names)
		}
		ks := decades(t, i, g.yTicks)
		lo, hi := math.Pow(10, float64(ks[0])), math.Pow(10, float64(ks[len(ks)-1]))
		if lo > ymin || ymin >= lo*10 || hi < ymax*10 || ymax*100 <= hi {
			t.Errorf("panel %d: axis %g-%g for data %g-%g: want the decades of the data plus one", i, lo, hi, ymin, ymax)
		}
	}
}

// decades checks that the tick labels are consecutive powers of ten, at
// least three (the 1-10 of an empty panel and its headroom), and returns
// their exponents.
func decades(t *testing.T, panel int, labels []string) []int {
	t.Helper()
	var ks []int
	for _, l := range labels {
		v, err := strconv.ParseFloat(l, 64)
		k := math.Round(math.Log10(v))
		if err != nil || math.Abs(v/math.Pow(10, k)-1) > 1e-9 {
			t.Fatalf("panel %d: tick label %q is not a power of ten", panel, l)
		}
		ks = append(ks, int(k))
	}
	if len(ks) < 3 {
		t.Fatalf("panel %d: ticks %q: want at least 3 decades", panel, labels)
	}
	for j := 1; j < len(ks); j++ {
		if ks[j] != ks[j-1]+1 {
			t.Fatalf("panel %d: ticks %q are not consecutive decades", panel, labels)
		}
	}
	return ks
}

// checkQuickSVG checks the plot of a run whose figures the test does not
// know: well-formed, both titles, one polyline per legend entry, both of
// ckpt's latency series (a latency is never zero), a log axis of decades.
func checkQuickSVG(t *testing.T, path string) {
	t.Helper()
	got := readSVG(t, path)
	titles := []string{"W2: storage growth per step", "W2: getTuple(latest) latency, p50 of 10"}
	if len(got) != len(titles) {
		t.Fatalf("%d panels, want %d", len(got), len(titles))
	}
	for i, g := range got {
		if g.title != titles[i] {
			t.Errorf("panel %d: title %q, want %q", i, g.title, titles[i])
		}
		if len(g.polylines) != len(g.legend) || slices.Contains(g.polylines, 0) {
			t.Errorf("panel %d: polylines with %v points for legend %q", i, g.polylines, g.legend)
		}
		decades(t, i, g.yTicks)
	}
	if len(got[1].polylines) != 2 {
		t.Errorf("latency panel: %d series, want ckpt's 2", len(got[1].polylines))
	}
}

// A W2 result whose windows did not grow the file (all zeros) still plots:
// the bytes panel is empty (1-10 plus headroom), the latency panel has one
// point per series.
func TestPlotW2WithoutGrowth(t *testing.T) {
	r := &w2Result{steps: 200, points: []w2Point{{N: 100, getP50: 10, getDecP50: 20}, {N: 200, diskBytes: 0, getP50: 0}}}
	path := filepath.Join(t.TempDir(), "w2.svg")
	if err := plotW2(path, r, nil); err != nil {
		t.Fatal(err)
	}
	panels := w2Panels(r, nil)
	if len(panels[0].series) != 0 || len(panels[1].series) != 2 {
		t.Fatalf("series: %d and %d, want 0 and 2", len(panels[0].series), len(panels[1].series))
	}
	checkSVG(t, path, panels)
	got := readSVG(t, path)
	if want := []string{"1", "10", "100"}; !slices.Equal(got[0].yTicks, want) {
		t.Errorf("empty panel ticks %q, want %q", got[0].yTicks, want)
	}
	if want := []string{"10", "100", "1000"}; !slices.Equal(got[1].yTicks, want) {
		t.Errorf("latency ticks %q, want %q", got[1].yTicks, want)
	}
}

// ckpt and both peer modes over several orders of magnitude, with a name
// that needs escaping; the peer's zero point is left out.
func TestPlotW2WithPeers(t *testing.T) {
	r := &w2Result{steps: 1000}
	for i, n := range []int{100, 200, 500, 1000} {
		r.points = append(r.points, w2Point{N: n, getP50: 3 + float64(i), getDecP50: 8 * float64(i+1), diskBytes: int64(n) * 900, bytesPerStepWindow: 900})
	}
	peers := map[string]*peerW2{
		"full": {Points: []int{1000, 100, 500}, At: map[string]peerW2Point{
			"100": {GetP50: 150, PerStepPrev: 40e3}, "500": {GetP50: 900, PerStepPrev: 200e3}, "1000": {GetP50: 2500, PerStepPrev: 0},
		}},
		"shipped": {Points: []int{100, 500, 1000}, At: map[string]peerW2Point{
			"100": {GetP50: 120, PerStepPrev: 1.5e3}, "500": {GetP50: 400, PerStepPrev: 1.6e3}, "1000": {GetP50: 700, PerStepPrev: 1.7e3},
		}},
	}
	path := filepath.Join(t.TempDir(), "w2.svg")
	if err := plotW2(path, r, peers); err != nil {
		t.Fatal(err)
	}
	panels := w2Panels(r, peers)
	if len(panels[0].series) != 4 || len(panels[1].series) != 4 {
		t.Fatalf("series: %d and %d, want 4 and 4", len(panels[0].series), len(panels[1].series))
	}
	if n := len(panels[0].series[2].pts); n != 2 {
		t.Errorf("FULL growth keeps %d points, want 2 (the zero left out)", n)
	}
	panels[1].series[0].name = `a <b> & "c"`
	var sb strings.Builder
	if err := writeSVG(&sb, panels); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(path, []byte(sb.String()), 0o644))
	checkSVG(t, path, panels)
	got := readSVG(t, path)
	// bytes: 0.9 kB (ckpt) to 200 kB (FULL): 0.1 ... 1000 and a decade above
	if want := []string{"0.1", "1", "10", "100", "1000", "10000"}; !slices.Equal(got[0].yTicks, want) {
		t.Errorf("bytes ticks %q, want %q", got[0].yTicks, want)
	}
}
