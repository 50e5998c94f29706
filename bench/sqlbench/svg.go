package sqlbench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The plot's size and margins, in pixels.
const (
	svgW, svgH                           = 760, 480
	svgLeft, svgRight, svgTop, svgBottom = 70, 190, 40, 50
)

// SVG draws recall@k (x) against QPS (y, log scale): one line per method and client count,
// pgvector's points labelled with their ef_search.
func (rep *Report) SVG() string {
	pw, ph := float64(svgW-svgLeft-svgRight), float64(svgH-svgTop-svgBottom)
	minR, maxQ, minQ := 1.0, 0.0, math.Inf(1)
	for _, r := range rep.Rows {
		minR = min(minR, r.Recall)
		if r.QPS > 0 {
			maxQ, minQ = max(maxQ, r.QPS), min(minQ, r.QPS)
		}
	}
	if maxQ == 0 {
		maxQ, minQ = 10, 1
	}
	x0 := math.Max(0, math.Floor(minR*10-0.0001)/10)
	if x0 >= 1 {
		x0 = 0.9
	}
	y0, y1 := math.Floor(math.Log10(minQ)), math.Ceil(math.Log10(maxQ))
	if y1 <= y0 {
		y1 = y0 + 1
	}
	px := func(recall float64) float64 { return float64(svgLeft) + (recall-x0)/(1-x0)*pw }
	py := func(qps float64) float64 {
		return float64(svgTop) + ph - (math.Log10(math.Max(qps, math.Pow(10, y0)))-y0)/(y1-y0)*ph
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	title := fmt.Sprintf("%s: %d × %d-d %s, k=%d, m=%d efc=%d, %d cores", rep.Table, rep.N, rep.Dims, rep.Metric, rep.K, rep.M, rep.EFConstruction, rep.NumCPU)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	// Grid and ticks.
	step := 0.1
	if 1-x0 <= 0.3 {
		step = 0.05
	}
	for x := x0; x <= 1.0001; x += step {
		X := px(x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", X, svgTop, X, svgH-svgBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.2f</text>`+"\n", X, svgH-svgBottom+16, x)
	}
	for e := y0; e <= y1; e++ {
		for _, m := range []float64{1, 2, 5} {
			q := m * math.Pow(10, e)
			if math.Log10(q) > y1+1e-9 {
				continue
			}
			Y := py(q)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", svgLeft, Y, svgW-svgRight, Y, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, Y+4, strconv.FormatFloat(q, 'f', -1, 64))
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", svgLeft, svgTop, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">recall@%d</text>`+"\n", float64(svgLeft)+pw/2, svgH-12, rep.K)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">queries per second (log)</text>`+"\n", float64(svgTop)+ph/2)
	rep.svgSeries(&b, px, py)
	b.WriteString("</svg>\n")
	return b.String()
}

// svgSeries draws the lines, their points and the legend.
func (rep *Report) svgSeries(b *strings.Builder, px, py func(float64) float64) {
	type key struct {
		method  string
		clients int
	}
	var order []key
	series := map[key][]Row{}
	for _, r := range rep.Rows {
		k := key{r.Method, r.Clients}
		if _, ok := series[k]; !ok {
			order = append(order, k)
		}
		series[k] = append(series[k], r)
	}
	pgColours := []string{"#1f77b4", "#6baed6", "#08519c", "#9ecae1"}
	vgColours := []string{"#d62728", "#ff7f0e", "#a50f15", "#fdae6b"}
	var pi, vi int
	for li, k := range order {
		rows := series[k]
		colour, marker := "", ""
		if k.method == "vecgate" {
			colour, marker = vgColours[vi%len(vgColours)], "square"
			vi++
		} else {
			colour, marker = pgColours[pi%len(pgColours)], "circle"
			pi++
		}
		dash := ""
		if k.clients > 1 {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(r.Recall), py(r.QPS)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), colour, dash)
		}
		for _, r := range rows {
			X, Y := px(r.Recall), py(r.QPS)
			if marker == "square" {
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="9" height="9" fill="%s"/>`+"\n", X-4.5, Y-4.5, colour)
			} else {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", X, Y, colour)
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" fill="#555">%d</text>`+"\n", X+5, Y-5, r.EF)
			}
		}
		// Legend.
		ly := float64(svgTop + 10 + 20*li)
		lx := float64(svgW - svgRight + 15)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+24, ly, colour, dash)
		label := fmt.Sprintf("%s, %d client", k.method, k.clients)
		if k.clients != 1 {
			label += "s"
		}
		if k.method == "pgvector" {
			label += " (ef)"
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(label))
	}
}
