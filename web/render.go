package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/human"
)

// page is what every template gets: the page's own data in Data, and what
// the layout needs.
type page struct {
	Title       string
	Prefix      string
	CSRF        string
	AllowWrites bool // Options.AllowWrites on a store that can be written
	// StoreReadOnly: AllowWrites was asked for but the store was opened
	// read-only, so the pages show a note instead of forms that would
	// only be refused.
	StoreReadOnly bool
	Data          any
}

// errorPage is the data of the error template.
type errorPage struct {
	Status  int
	Text    string
	Message string
	Verify  string // for damage: the file to run ckpt verify on
}

// parseTemplates parses the layout once per page template, so each page
// fills the layout's "content" block with its own.
func parseTemplates(funcs template.FuncMap) map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" || name == "parts.html" {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
		pages[strings.TrimSuffix(name, ".html")] = t
	}
	return pages
}

func (s *server) funcs() template.FuncMap {
	return template.FuncMap{
		"link":  s.link,
		"bytes": humanBytes,
		// count says n things: "1 thread", "100,000 threads".
		"count": func(n int, one, many string) string {
			if n == 1 {
				return "1 " + one
			}
			return human.Grouped(n) + " " + many
		},
		// num is a count in a table's column: "100,000".
		"num": human.Grouped[int],
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			// UTC on every page (the server's zone is not the reader's),
			// and said, since 'ckpt log' prints local time.
			return t.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		},
		"ns":    nsLabel,
		"name":  shownName,
		"int64": func(n int) int64 { return int64(n) },
		"add":   func(a, b int) int { return a + b },
		"json":  jsonText,
		"meta":  metaWord,
		"lines": textLines,
	}
}

// textLines splits a value shown in a one-line cell (a metadata value, a
// last node) at its line breaks, which the template marks ("nl"): in
// running text the browser draws a newline as a space, and the lines of
// a "reason" of several ran together into one sentence. Each line is
// still escaped by the template.
func textLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
}

// render executes a page template into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "ckpt web: no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	p := page{Title: title, Prefix: s.prefix, CSRF: s.token, AllowWrites: s.writable(),
		StoreReadOnly: s.opts.AllowWrites && s.readOnly, Data: data}
	top := "layout.html"
	if name == "fragment" {
		top = "content"
	}
	if err := t.ExecuteTemplate(&buf, top, p); err != nil {
		log.Printf("ckpt web: template %s: %v", name, err)
		http.Error(w, "ckpt web: cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers with an error page.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, status, "error", http.StatusText(status), errorPage{Status: status, Text: http.StatusText(status), Message: msg})
}

// failErr answers with the error page for a store error.
func (s *server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status := errStatus(err)
	p := errorPage{Status: status, Text: http.StatusText(status), Message: plainError(err)}
	if errors.Is(err, ckpt.ErrCorrupt) {
		// The error names a record by its key and two checksums: the
		// page says what that means and what to run, as the CLI does.
		p.Verify = s.path
	}
	s.render(w, status, "error", http.StatusText(status), p)
}

// plainError is err's text for a person: the page's heading gives the
// status, so the library's "ckpt: " prefixes and the sentinel words that
// status stands for go.
func plainError(err error) string {
	msg := strings.ReplaceAll(err.Error(), "ckpt: ", "")
	// The library's `not found: thread "x"` or `not found: checkpoint X in
	// thread ...`: without the sentinel's words they named what is
	// missing without saying it is, so "no" goes in their place.
	missing := errors.Is(err, ckpt.ErrNotFound) && strings.HasPrefix(msg, "not found: ")
	for _, sentinel := range []error{ckpt.ErrInvalidConfig, ckpt.ErrNotFound} {
		msg = strings.Replace(msg, strings.TrimPrefix(sentinel.Error(), "ckpt: ")+": ", "", 1)
	}
	if missing && !strings.HasPrefix(msg, "no ") && !strings.Contains(msg, " has no ") {
		msg = "no " + msg
	}
	return msg
}

// shownName is a name of the program's (a thread id, a channel) as the
// pages show it as text: itself when it is valid UTF-8 of printable
// characters, else Go-quoted, as the CLI prints it (cmd/ckpt/printable.go).
// Shown raw, "new\nline" and "new line" read the same, and a U+202E
// turned the rest of the id, and of its row, around. A name that itself
// reads as a Go-quoted string is quoted too, so a shown form never means
// two names. Links keep the exact bytes (link escapes them).
func shownName(s string) string {
	printable := utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
	if _, err := strconv.Unquote(s); printable && (err != nil || !strings.HasPrefix(s, `"`)) {
		return s
	}
	return strconv.Quote(s)
}

// humanBytes and nsLabel are internal/human's, shared with the ckpt command.
var (
	humanBytes = human.Bytes
	nsLabel    = human.NS
)

// jsonText writes v as one line of JSON for people: <, > and & stay as they
// are (html/template escapes the page; JSON's \u003c would only obscure
// what the value holds).
func jsonText(v any) string {
	return marshalText(v, "")
}

func marshalText(v any, indent string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
