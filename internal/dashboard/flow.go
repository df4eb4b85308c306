package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"labd/internal/i18n"
	"labd/internal/sessions"
)

// Arrow is one step of a ladder diagram: a command or reply (its first
// line, secrets masked as in the transcript), a run of encrypted bytes, a
// TCP handshake or close segment, or a note by labd across both columns.
type Arrow struct {
	Time      time.Time
	Dir       string // "C" (client to server), "S", or "*" for a note
	Text      string
	More      int  // further lines in the same command or reply
	Encrypted int  // bytes, for an encrypted run
	TCP       bool // handshake or close: drawn lightly
	TLSStart  bool // the note where TLS starts
	Class     string
}

// Flow is a session as a ladder diagram.
type Flow struct {
	Info   sessions.Info
	Arrows []Arrow
	// Omitted counts the arrows left out beyond maxArrows.
	Omitted int
	// tr translates the labels of the SVG (In); nil: English.
	tr *i18n.Printer
}

// In returns the diagram with its labels in tr's language.
func (f Flow) In(tr *i18n.Printer) Flow {
	f.tr = tr
	return f
}

// t translates a label of the diagram.
func (f Flow) t(key string, args ...any) string {
	if f.tr == nil {
		return fmt.Sprintf(key, args...)
	}
	return f.tr.T(key, args...)
}

const maxArrows = 400

var reContinued = regexp.MustCompile(`^\d{3}-`)

// FlowOf builds the diagram of a session from its transcript: lines of one
// chunk (same direction, same time) and multi-line replies (250-...) make
// one arrow.
func FlowOf(info sessions.Info, entries []sessions.Entry, unmask bool) Flow {
	f := Flow{Info: info}
	tcp := info.Transport == "tcp"
	if tcp {
		t := info.Start
		f.Arrows = append(f.Arrows,
			Arrow{Time: t, Dir: "C", Text: "SYN", TCP: true},
			Arrow{Time: t, Dir: "S", Text: "SYN, ACK", TCP: true},
			Arrow{Time: t, Dir: "C", Text: "ACK", TCP: true})
	}
	var cur *Arrow
	continued := false
	for _, l := range Transcript(info, entries, unmask) {
		switch {
		case l.Dir == "*":
			tlsStart := strings.HasPrefix(l.Pre, "TLS handshake")
			f.Arrows = append(f.Arrows, Arrow{Time: l.Time, Dir: "*", Text: l.Text(), TLSStart: tlsStart})
			cur = nil
		case l.Encrypted > 0:
			f.Arrows = append(f.Arrows, Arrow{Time: l.Time, Dir: l.Dir, Text: fmt.Sprintf("[%d bytes encrypted]", l.Encrypted), Encrypted: l.Encrypted})
			cur = nil
		case cur != nil && cur.Dir == l.Dir && (l.Time.Equal(cur.Time) || continued):
			cur.More++
		default:
			f.Arrows = append(f.Arrows, Arrow{Time: l.Time, Dir: l.Dir, Text: l.Text(), Class: l.Class})
			cur = &f.Arrows[len(f.Arrows)-1]
		}
		if l.Dir != "*" && l.Encrypted == 0 {
			continued = reContinued.MatchString(l.Pre)
		}
	}
	if tcp && !info.Open {
		t := info.End
		f.Arrows = append(f.Arrows,
			Arrow{Time: t, Dir: "S", Text: "FIN, ACK", TCP: true},
			Arrow{Time: t, Dir: "C", Text: "FIN, ACK", TCP: true},
			Arrow{Time: t, Dir: "S", Text: "ACK", TCP: true})
	}
	if n := len(f.Arrows); n > maxArrows {
		f.Omitted = n - maxArrows
		f.Arrows = f.Arrows[:maxArrows]
	}
	return f
}

func (a Arrow) label(width int) string {
	s := a.Text
	if a.More > 0 {
		s += fmt.Sprintf(" (+%d lines)", a.More)
	}
	if r := []rune(s); len(r) > width {
		s = string(r[:width-1]) + "…"
	}
	return s
}

func offset(start, t time.Time) string {
	return fmt.Sprintf("+%.3f s", t.Sub(start).Seconds())
}

// SVG geometry.
const (
	svgWidth  = 960
	clientX   = 230
	serverX   = 860
	headerH   = 70
	rowH      = 26
	labelRune = 80
)

// Arrow colours (hex without #, also the arrowheads' ids).
const (
	colCmd   = "1f4e99"
	colReply = "2e7d32"
	colErr   = "c62828"
	colEnc   = "b8860b"
	colTCP   = "aaaaaa"
)

var arrowColors = []string{colCmd, colReply, colErr, colEnc, colTCP}

// SVG renders the diagram with presentation attributes only (no style
// element, no script), so that it shows under the dashboard's CSP and in
// any slide tool.
func (f Flow) SVG() string {
	var b strings.Builder
	h := headerH + rowH*(len(f.Arrows)+1) + 20
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="monospace" font-size="12" role="img" aria-label="%s">`, svgWidth, h, svgWidth, h, esc(f.t("ladder diagram of session %s", strconv.FormatUint(f.Info.ID, 10))))
	fmt.Fprintf(&b, `<title>labd session %d: %s</title>`, f.Info.ID, esc(f.Info.Proto))
	// One arrowhead per colour: context-stroke is too recent for some
	// slide tools.
	b.WriteString(`<defs>`)
	for _, c := range arrowColors {
		fmt.Fprintf(&b, `<marker id="head-%s" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#%s"/></marker>`, c, c)
	}
	b.WriteString(`</defs>`)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, svgWidth, h)
	for _, col := range []struct {
		x     int
		title string
		addr  string
	}{{clientX, f.t("client"), f.Info.Remote}, {serverX, f.t("server %s", f.Info.Proto), f.Info.Local}} {
		fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-weight="bold">%s</text>`, col.x, esc(col.title))
		fmt.Fprintf(&b, `<text x="%d" y="40" text-anchor="middle">%s</text>`, col.x, esc(col.addr))
		fmt.Fprintf(&b, `<line x1="%d" y1="50" x2="%d" y2="%d" stroke="#555555" stroke-width="2"/>`, col.x, col.x, h-10)
	}
	for i, a := range f.Arrows {
		y := headerH + rowH*i
		fmt.Fprintf(&b, `<text x="8" y="%d" fill="#666666">%s</text>`, y+4, offset(f.Info.Start, a.Time))
		if a.Dir == "*" {
			color := "#777777"
			if a.TLSStart {
				color = "#b8860b"
				fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-dasharray="6 4" stroke-width="2"/>`, clientX-20, y+8, serverX+20, y+8, color)
			}
			fmt.Fprintf(&b, `<text class="note" x="%d" y="%d" text-anchor="middle" font-style="italic" fill="%s">%s</text>`, (clientX+serverX)/2, y+4, color, esc(a.label(labelRune+10)))
			continue
		}
		x1, x2 := clientX, serverX
		if a.Dir == "S" {
			x1, x2 = serverX, clientX
		}
		color, width, dash, kind := colCmd, "1.5", "", "cmd"
		switch {
		case a.TCP:
			color, width, dash, kind = colTCP, "1", ` stroke-dasharray="3 3"`, "tcp"
		case a.Encrypted > 0:
			color, kind = colEnc, "enc"
		case a.Dir == "S":
			color, kind = colReply, "reply"
			if a.Class == "temp" || a.Class == "perm" {
				color = colErr
			}
		}
		fmt.Fprintf(&b, `<g class="arrow %s" data-dir="%s"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#%s" stroke-width="%s"%s marker-end="url(#head-%s)"/>`, kind, a.Dir, x1, y+2, x2, y+12, color, width, dash, color)
		fill := "#000000"
		if a.TCP {
			fill = "#999999"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text></g>`, (clientX+serverX)/2, y, fill, esc(a.label(labelRune)))
	}
	if f.Omitted > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#777777">%s</text>`, (clientX+serverX)/2, headerH+rowH*len(f.Arrows), esc(f.t("… %d more arrows (see the transcript)", f.Omitted)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// Text renders the diagram for a terminal.
func (f Flow) Text() string {
	const inner = 64
	var b strings.Builder
	cl, sv := f.t("client")+" "+f.Info.Remote, f.t("server %s (%s)", f.Info.Local, f.Info.Proto)
	fmt.Fprintf(&b, "%12s %s%*s\n", "", cl, max(1, inner+2-utf8.RuneCountInString(cl)), sv)
	for _, a := range f.Arrows {
		fmt.Fprintf(&b, "%12s ", offset(f.Info.Start, a.Time))
		if a.Dir == "*" {
			fmt.Fprintf(&b, "|%s|\n", center(" * "+a.label(inner-6)+" ", inner, ' '))
			continue
		}
		fill := '-'
		if a.TCP {
			fill = '.'
		} else if a.Encrypted > 0 {
			fill = '='
		}
		body := center(" "+a.label(inner-8)+" ", inner-1, fill)
		if a.Dir == "C" {
			fmt.Fprintf(&b, "|%s>|\n", body)
		} else {
			fmt.Fprintf(&b, "|<%s|\n", body)
		}
	}
	if f.Omitted > 0 {
		fmt.Fprintln(&b, f.t("… %d more arrows (see the transcript)", f.Omitted))
	}
	return b.String()
}

func center(s string, width int, fill rune) string {
	n := len([]rune(s))
	if n >= width {
		return string([]rune(s)[:width])
	}
	left := (width - n) / 2
	return strings.Repeat(string(fill), left) + s + strings.Repeat(string(fill), width-n-left)
}

func (d *Dashboard) flowPage(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok {
		return
	}
	unmask := d.unmask(r)
	f := FlowOf(s.Info(), s.Transcript(), unmask)
	d.render(w, r, http.StatusOK, "flow", map[string]any{"Info": f.Info, "SVG": template.HTML(f.In(d.tr).SVG()), "Unmask": unmask})
}

func (d *Dashboard) flowSVG(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok {
		return
	}
	f := FlowOf(s.Info(), s.Transcript(), d.unmask(r))
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="labd-session-%d-%s.svg"`, f.Info.ID, f.Info.Proto))
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + f.In(d.tr).SVG()))
}
