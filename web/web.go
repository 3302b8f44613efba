// Package web serves a history browser for a ckpt store: its threads, each
// thread's checkpoints as a tree with forks and namespaces, a checkpoint's
// state, metadata and pending writes, the difference of two checkpoints and
// the store's space statistics.
//
// Mount it in the program that holds the store, the way net/http/pprof is
// mounted, so the live store can be looked at while the program runs (bbolt
// lets only one process open the file):
//
//	mux.Handle("/debug/ckpt/", web.Handler(store, web.Options{Prefix: "/debug/ckpt"}))
//
// or run `ckpt ui FILE` for a file at rest, which serves LentHandler: it
// opens the file only while it builds a page, so a service that opens the
// file meanwhile gets it. Pages are server-rendered with
// html/template, so every thread id, metadata value and channel value is
// escaped; the few lines of JavaScript and CSS are embedded files served
// under a strict Content-Security-Policy (no inline script or style). The
// handler only reads unless Options.AllowWrites is set.
//
// The pages are built in the program that holds the store, beside its
// writers, so their builds pass one admission gate that holds them to
// Options.MaxCPUShare of one core (a tenth by default): a person clicking
// sees no difference, a script loading pages in a loop gets them slower.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
)

// Options configure Handler. The zero value serves read-only pages at the
// root of the server.
type Options struct {
	// Prefix is the path the handler is mounted under, without the trailing
	// slash ("/debug/ckpt"). The handler strips it from requests and puts it
	// in front of every link it writes. Empty mounts it at "/".
	Prefix string
	// AllowWrites turns on the writing actions: delete a thread, copy a
	// thread, fork a new checkpoint from an old one with edited state. They
	// are POSTs that need the page's CSRF token. Off, they answer 403.
	AllowWrites bool
	// AllowedHosts lists Host header names accepted besides localhost and
	// loopback addresses when the handler is reached on a loopback address
	// (the DNS-rebinding check). Reached on another address, the Host header
	// is not checked: the program that exposes the handler owns its access
	// control.
	AllowedHosts []string
	// PageSize is how many checkpoints a thread page shows; zero means 50.
	PageSize int
	// InlineLimit is the encoded size in bytes above which a channel value is
	// not drawn with its checkpoint but loaded when asked for; zero means
	// 16 KiB.
	InlineLimit int
	// LiveInterval is how often a thread page's event stream (/events) asks
	// the store for the thread's newest checkpoint; zero means 1 s (at
	// least 10 s on a LentHandler's store, whose reads may open the file).
	// Each ask is one short read: nothing stays open between them. A stream lasts
	// until its page is left or its request's context ends, so a server
	// that calls http.Server.Shutdown should set a BaseContext it cancels
	// then; Shutdown does not end running requests itself.
	LiveInterval time.Duration
	// MaxCPUShare bounds the share of one CPU core that building pages may
	// take, so a script that loads pages in a loop cannot starve the
	// program's writers: pages are built one at a time, and after a build
	// that took d the next starts no sooner than d*(1/MaxCPUShare-1) later.
	// A page asked for after a pause is built at once; requests that arrive
	// faster wait their turn (and stop waiting when their client goes).
	// Static files and the event stream's wait between reads are not
	// counted. Zero or negative means 0.1; 1 or more only keeps builds one
	// at a time.
	MaxCPUShare float64
}

const (
	defaultPageSize     = 50
	maxPageSize         = 500
	defaultInlineLimit  = 16 << 10
	defaultLiveInterval = time.Second
	// threadsPageSize is how many threads the threads page lists at once.
	threadsPageSize = 100
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows scripts, styles and fetches from this server only: no inline
// script or style, so a value that slipped through escaping still could not
// run. Inline SVG is markup, not script, so the charts are allowed.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// formReads is how many write actions' forms are read at once: a person
// sends one at a time, and each may be 16 MB.
const formReads = 2

type server struct {
	lender      Lender // heldStore for Handler
	path        string // the store's file
	readOnly    bool   // the store is opened read-only
	opts        Options
	prefix      string
	token       string
	pages       map[string]*template.Template
	mux         *http.ServeMux
	gate        *gate
	forms       chan struct{} // a slot per write action's form being read (formReads)
	cachedStats statsCache
	lastNodes   nodeCache
}

// Handler returns the history browser for store. It reads through the
// store's public API, so it works on a store the program is writing to.
func Handler(store *ckpt.Store, opts Options) http.Handler {
	return newServer(heldStore{store}, store.Path(), store.ReadOnly(), opts)
}

func newServer(l Lender, path string, readOnly bool, opts Options) *server {
	if opts.PageSize <= 0 {
		opts.PageSize = defaultPageSize
	}
	if opts.PageSize > maxPageSize {
		opts.PageSize = maxPageSize
	}
	if opts.InlineLimit <= 0 {
		opts.InlineLimit = defaultInlineLimit
	}
	var tok [32]byte
	_, _ = rand.Read(tok[:]) // crypto/rand.Read never fails (Go 1.24+)
	s := &server{
		lender:   l,
		path:     path,
		readOnly: readOnly,
		opts:     opts,
		prefix:   strings.TrimRight(opts.Prefix, "/"),
		token:    hex.EncodeToString(tok[:]),
		mux:      http.NewServeMux(),
		gate:     newGate(opts.MaxCPUShare),
		forms:    make(chan struct{}, formReads),
	}
	s.pages = parseTemplates(s.funcs())
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.gated(s.threads))
	s.mux.HandleFunc("GET /thread", s.gated(s.thread))
	s.mux.HandleFunc("GET /head", s.gated(s.head))
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /checkpoint", s.gated(s.checkpoint))
	s.mux.HandleFunc("GET /value", s.gated(s.value))
	s.mux.HandleFunc("GET /diff", s.gated(s.diff))
	s.mux.HandleFunc("GET /stats", s.gated(s.stats))
	s.mux.HandleFunc("POST /delete", s.writeAction(s.deleteThread))
	s.mux.HandleFunc("POST /copy", s.writeAction(s.copyThread))
	s.mux.HandleFunc("POST /fork", s.writeAction(s.fork))
	for _, p := range []string{"/delete", "/copy", "/fork"} {
		// Without this, the catch-all below would answer other methods 404.
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			s.fail(w, r, http.StatusMethodNotAllowed, r.Method+" "+p+": only POST")
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer the browser sends
	// "Origin: null" on the page's own POSTs and the origin check below
	// could not tell them from another site's.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !s.hostAllowed(r) {
		// Plain text: the page is refused before anything of the store is read.
		http.Error(w, "ckpt web: Host "+r.Host+" is not allowed on a loopback address (DNS rebinding check); see Options.AllowedHosts", http.StatusForbidden)
		return
	}
	path := r.URL.Path
	if s.prefix != "" {
		rest, ok := strings.CutPrefix(path, s.prefix)
		if !ok || rest != "" && rest[0] != '/' {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, s.prefix+"/", http.StatusMovedPermanently)
			return
		}
		if clean := cleanPath(rest); clean != rest {
			// The mux below would redirect to the clean path without the
			// prefix (it sees the path stripped): out of the mount.
			u := *r.URL
			u.Path, u.RawPath = s.prefix+clean, ""
			http.Redirect(w, r, u.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

// cleanPath is p as net/http's ServeMux cleans it: no "." or ".."
// elements, no doubled slashes, the trailing slash kept.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// hostAllowed is the DNS-rebinding check: a page of a hostile site whose
// name was re-pointed at 127.0.0.1 reaches this server with that site's
// name in the Host header, so on a loopback address only loopback names
// (and Options.AllowedHosts) are served. A request whose local address is
// unknown is treated as loopback: refusing is the safe side.
func (s *server) hostAllowed(r *http.Request) bool {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			return true
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range s.opts.AllowedHosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// writeAction guards a writing handler: writes must be turned on and the
// form must carry this handler's CSRF token. Another site can make a
// browser POST here but cannot read a page to learn the token (the Host
// check keeps a rebound name from reading it too).
func (s *server) writeAction(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.AllowWrites {
			s.fail(w, r, http.StatusForbidden, "write actions are off (web.Options.AllowWrites)")
			return
		}
		if s.readOnly {
			// Before the token: the pages of a read-only store carry none.
			s.fail(w, r, http.StatusForbidden, "the store is opened read-only: no write action can run")
			return
		}
		// The Origin is a header: another site's POST is refused before
		// its body (up to 16 MB) is read and parsed.
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				s.fail(w, r, http.StatusForbidden, "cross-origin POST refused")
				return
			}
		}
		// A few forms are read at a time: each may be 16 MB, and a flood
		// of them must not take memory by the request.
		select {
		case s.forms <- struct{}{}:
		case <-r.Context().Done():
			http.Error(w, "ckpt web: request ended while waiting for its turn: "+r.Context().Err().Error(), http.StatusServiceUnavailable)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
		err := r.ParseForm()
		<-s.forms
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, "bad form: "+err.Error())
			return
		}
		tok := r.PostForm.Get("csrf")
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
			s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
			return
		}
		// Through the gate, charged like a page build: a script holding
		// the token must not loop copies of a large thread at full speed
		// beside the program's writers. (After the form is read: a slow
		// client must not hold the gate.)
		s.gated(func(w http.ResponseWriter, r *http.Request) {
			h(w, r)
			s.cachedStats.forget()
		})(w, r)
	}
}

// writable says whether the pages offer the write actions: turned on, and
// on a store that can take them.
func (s *server) writable() bool { return s.opts.AllowWrites && !s.readOnly }

// errStatus maps the store's errors to HTTP status codes.
func errStatus(err error) int {
	switch {
	case errors.Is(err, ckpt.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ckpt.ErrInvalidConfig):
		return http.StatusBadRequest
	case errors.Is(err, ckpt.ErrExists), errors.Is(err, ckpt.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ckpt.ErrReadOnly), errors.Is(err, ckpt.ErrKey):
		// ErrKey: a value sealed under a key this handle was not given.
		return http.StatusForbidden
	case errors.Is(err, ckpt.ErrLocked):
		// Another process holds the file a lent store opens (LentHandler,
		// ckpt ui): the request was sound, the file is busy, and the same
		// request later may well succeed.
		return http.StatusServiceUnavailable
	case errors.Is(err, ckpt.ErrCorrupt):
		// A record the page reads fails its check: the request was sound
		// and the server works (500 said it failed, and invites a retry
		// that cannot help); the data it names does not read. Every page
		// answers damage so, with the ckpt verify hint (failErr).
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// link returns the URL of a page of this handler with query parameters
// given as name, value pairs; an empty value is left out.
func (s *server) link(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u := s.prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
