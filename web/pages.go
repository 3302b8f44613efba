package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// metaColumns are the metadata keys the thread page shows as columns.
var metaColumns = []string{"step", "source", "node", "route", "reason", "run_id"}

// threadRow is one line of the threads page.
type threadRow struct {
	ckpt.ThreadInfo
	LastNode string
	// Damage is the error reading the thread met (a damaged record): the
	// row says so, and the other threads are listed as ever.
	Damage string
}

type threadsData struct {
	Query   string
	Threads []threadRow
	Total   int
	Offset  int
	Next    string
	Prev    string
}

// threads lists the threads, newest first, optionally those whose id
// starts with q.
func (s *server) threads(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	prefix := q.Get("q")
	offset, err := intParam(q.Get("offset"), 0, 0, 1<<30)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "offset: "+plainError(err))
		return
	}
	page, err := s.st(ctx).RecentThreads(ctx, ckpt.ThreadQuery{Prefix: prefix, Offset: offset, Limit: threadsPageSize})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := threadsData{Query: prefix, Total: page.Total, Offset: offset}
	shown := page.Threads
	for i, info := range shown {
		row := threadRow{ThreadInfo: info}
		if page.Errs != nil && page.Errs[i] != nil {
			row.Damage = page.Errs[i].Error()
		} else {
			row.LastNode = s.lastNode(ctx, info)
		}
		d.Threads = append(d.Threads, row)
	}
	end := offset + threadsPageSize
	s.lastNodes.keep(shown)
	if end < page.Total {
		d.Next = s.link("/", "q", prefix, "offset", strconv.Itoa(end))
	}
	if offset > 0 {
		d.Prev = s.link("/", "q", prefix, "offset", strconv.Itoa(max(0, offset-threadsPageSize)))
	}
	s.render(w, http.StatusOK, "threads", "threads", d)
}

// lastNode returns the "node" metadata of the thread's newest checkpoint.
// Reading it loads the whole checkpoint, values included (a list channel
// put together from all its deltas: two thirds of the threads page's cost
// in BenchmarkPages), so it is remembered per thread for as long as that
// checkpoint stays the newest: a checkpoint's metadata never changes.
func (s *server) lastNode(ctx context.Context, info ckpt.ThreadInfo) string {
	if node, ok := s.lastNodes.get(info.ThreadID, info.NewestID); ok {
		return node
	}
	for t, err := range s.st(ctx).List(ctx, ckpt.ListOptions{ThreadID: info.ThreadID, Limit: 1}) {
		if err != nil {
			return ""
		}
		node := metaText(t.Metadata, "node")
		s.lastNodes.put(info.ThreadID, t.Config.CheckpointID, node)
		return node
	}
	return ""
}

// nodeCache remembers the last node of the threads the threads page showed
// last (at most threadsPageSize of them).
type nodeCache struct {
	mu sync.Mutex
	m  map[string]nodeEntry // by thread id
}

type nodeEntry struct{ newest, node string }

func (c *nodeCache) get(thread, newest string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[thread]
	return e.node, ok && e.newest == newest && newest != ""
}

func (c *nodeCache) put(thread, newest, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]nodeEntry{}
	}
	c.m[thread] = nodeEntry{newest, node}
}

// keep forgets every thread but those shown, so the cache stays as small as
// one page of threads.
func (c *nodeCache) keep(shown []ckpt.ThreadInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := make(map[string]bool, len(shown))
	for _, info := range shown {
		want[info.ThreadID] = true
	}
	for k := range c.m {
		if !want[k] {
			delete(c.m, k)
		}
	}
}

// histRow is one checkpoint on the thread page.
type histRow struct {
	ID      string
	NS      string
	Parent  string
	Time    time.Time
	Meta    []string // the metaColumns values
	Changed string
	Writes  int
	Graph   graphRow
	Damage  string // why the checkpoint does not read (pages_damaged.go)
}

type threadData struct {
	Info    ckpt.ThreadInfo
	NS      string // the namespace shown; "*" for all
	Filter  string
	Limit   int
	Before  string
	Columns []string
	Rows    []histRow
	Next    string
	Newer   string // the page just newer than this one (deep pages)
	First   string
	Newest  string
	// Live says the page follows new checkpoints as they arrive (the
	// "live" mark, and the event stream app.js opens): the first page, of
	// a store opened read-write. A store opened read-only (`ckpt ui FILE`)
	// is a file no process can write while it is held so: nothing arrives.
	Live       bool
	Namespaces []string
	HeadURL    string
	EventsURL  string // the live event stream of this selection
	// Damaged: the thread's summary does not read (why), and Verify, the
	// file to run ckpt verify on, when anything on the page is damaged.
	Damaged string
	Verify  string
}

// thread shows one page of a thread's history, newest first.
func (s *server) thread(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	thread := q.Get("t")
	info, err := s.st(ctx).Thread(ctx, thread)
	damaged := ""
	if errors.Is(err, ckpt.ErrCorrupt) {
		// The summary reads every record: one damaged is no reason to
		// hide the others, which the history below draws.
		damaged = plainError(err)
		info = ckpt.ThreadInfo{ThreadID: thread}
		info.Namespaces, err = s.namespacesOf(ctx, thread)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	opts := ckpt.ListOptions{ThreadID: thread, Before: q.Get("before")}
	nsSel := "*"
	if v, ok := q["ns"]; ok && v[0] != "*" {
		nsSel = v[0]
		opts.Namespace = ckpt.NS(nsSel)
	}
	if opts.Limit, err = intParam(q.Get("limit"), s.opts.PageSize, 1, maxPageSize); err != nil {
		s.fail(w, r, http.StatusBadRequest, "limit: "+plainError(err))
		return
	}
	ns := ""
	if opts.Namespace != nil {
		ns = *opts.Namespace
	}
	if opts.Before != "" {
		// A whole id passes as it is; a prefix must name one checkpoint.
		if opts.Before, err = s.st(ctx).ResolveID(ctx, thread, ns, opts.Before); err != nil {
			s.fail(w, r, http.StatusBadRequest, "before: "+plainError(err))
			return
		}
	}
	filterText := q.Get("filter")
	if opts.Filter, err = ParseFilter(filterText); err != nil {
		s.fail(w, r, http.StatusBadRequest, plainError(err))
		return
	}
	page := func(before string) string {
		u := s.link("/thread", "t", thread, "filter", filterText, "before", before, "limit", limitParam(opts.Limit, s.opts.PageSize))
		if opts.Namespace != nil {
			u += "&ns=" + url.QueryEscape(ns)
		}
		return u
	}
	if after := q.Get("after"); after != "" {
		// The page just newer than the checkpoint after (the newer link of
		// a deep page): found by a walk down from the newest, then sent on
		// to that page by its before, so every page has one address.
		if after, err = s.st(ctx).ResolveID(ctx, thread, ns, after); err != nil {
			s.fail(w, r, http.StatusBadRequest, "after: "+plainError(err))
			return
		}
		before, err := s.newerPage(ctx, opts, after)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		http.Redirect(w, r, page(before), http.StatusSeeOther)
		return
	}
	d := threadData{Info: info, NS: nsSel, Filter: filterText, Limit: opts.Limit, Before: opts.Before,
		Columns: metaColumns, Namespaces: info.Namespaces, Live: opts.Before == "" && !s.readOnly, Damaged: damaged}
	items, more, err := s.historyPage(ctx, opts)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	versions := map[string]map[string]string{}
	nodes := make([]histNode, len(items))
	for i, it := range items {
		nodes[i] = histNode{ID: it.Cfg.CheckpointID, NS: it.Cfg.CheckpointNS}
		if t := it.T; t != nil {
			versions[t.Config.CheckpointID] = t.Checkpoint.ChannelVersions
			if t.ParentConfig != nil {
				nodes[i].Parent = t.ParentConfig.CheckpointID
			}
		}
	}
	graph := layoutGraph(nodes)
	for i, it := range items {
		t := it.T
		if t == nil {
			d.Rows = append(d.Rows, histRow{ID: it.Cfg.CheckpointID, NS: it.Cfg.CheckpointNS, Graph: graph[i], Damage: it.Damage})
			continue
		}
		row := histRow{ID: t.Config.CheckpointID, NS: t.Config.CheckpointNS, Parent: nodes[i].Parent,
			Time: t.Checkpoint.TS, Writes: len(t.PendingWrites), Graph: graph[i]}
		for _, k := range metaColumns {
			row.Meta = append(row.Meta, metaText(t.Metadata, k))
		}
		pv, ok := versions[row.Parent]
		if !ok && row.Parent != "" {
			if pt, err := s.st(ctx).GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: row.NS, CheckpointID: row.Parent}); err == nil {
				pv, ok = pt.Checkpoint.ChannelVersions, true
			}
		}
		if ok || row.Parent == "" {
			row.Changed = strings.Join(changedChannels(pv, t.Checkpoint.ChannelVersions), ", ")
		}
		d.Rows = append(d.Rows, row)
	}
	if damaged != "" || slices.ContainsFunc(items, func(it histItem) bool { return it.T == nil }) {
		d.Verify = s.path
	}
	if more {
		d.Next = page(items[len(items)-1].Cfg.CheckpointID)
	}
	if opts.Before != "" {
		d.First = page("")
		if len(items) > 0 {
			d.Newer = s.link("/thread", "t", thread, "filter", filterText, "after", items[0].Cfg.CheckpointID,
				"limit", limitParam(opts.Limit, s.opts.PageSize))
			if opts.Namespace != nil {
				d.Newer += "&ns=" + url.QueryEscape(ns)
			}
		}
	}
	d.HeadURL = s.link("/head", "t", thread, "filter", filterText)
	d.EventsURL = s.link("/events", "t", thread, "filter", filterText)
	if opts.Namespace != nil {
		d.HeadURL += "&ns=" + url.QueryEscape(ns)
		d.EventsURL += "&ns=" + url.QueryEscape(ns)
	}
	if len(items) > 0 {
		d.Newest = items[0].Cfg.CheckpointID
	}
	s.render(w, http.StatusOK, "thread", "thread "+shownName(thread), d)
}

// newerPage returns the before of the page of opts.Limit checkpoints
// (of opts' namespace and filter) just newer than the checkpoint after,
// or "" when that page is the first. It lists from the newest down to
// after keeping only the last opts.Limit+1 ids, so a page deep in a long
// history costs a walk, not the memory, of the history above it.
func (s *server) newerPage(ctx context.Context, opts ckpt.ListOptions, after string) (string, error) {
	size := max(1, opts.Limit) + 1
	opts.Before, opts.Limit = "", 0
	last := make([]string, 0, size) // the last size ids, a ring once full
	n := 0
	for id, err := range s.pageIDs(ctx, opts) {
		if err != nil {
			return "", err
		}
		if id <= after {
			break
		}
		if len(last) < size {
			last = append(last, id)
		} else {
			last[n%size] = id
		}
		n++
	}
	if n < size {
		return "", nil
	}
	return last[n%size], nil
}

// head answers a poll for a thread's newest checkpoint (in the namespace
// asked for, or in any, matching the filter), as JSON.
func (s *server) head(w http.ResponseWriter, r *http.Request) {
	opts, err := headOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	newest, err := s.newest(r.Context(), opts)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(newest)
}

// events keeps the first page of a thread live: a server-sent event stream
// that names the thread's newest checkpoint (as head does) at once and
// again whenever it changes. It asks the store every LiveInterval with one
// short read (a List of one), so no read stays open while it waits, and it
// ends when the client goes away or the request's context ends (the
// server shutting down). An error ends the stream; the browser's
// EventSource connects again by itself.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	opts, err := headOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	newest, err := s.newestGated(ctx, opts)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(h liveHead) bool {
		b, _ := json.Marshal(h)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(newest) {
		return
	}
	every := s.opts.LiveInterval
	if every <= 0 {
		every = defaultLiveInterval
	}
	if _, held := s.lender.(heldStore); !held {
		every = max(every, lentLiveInterval)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h, err := s.newestGated(ctx, opts)
		if err != nil {
			return
		}
		if h != newest {
			newest = h
			if !send(h) {
				return
			}
		}
	}
}

// headOptions reads the thread, namespace and filter a head or events
// request asks about.
func headOptions(q url.Values) (ckpt.ListOptions, error) {
	opts := ckpt.ListOptions{ThreadID: q.Get("t"), Limit: 1}
	if opts.ThreadID == "" {
		// To the store an empty ThreadID lists every thread: the poll
		// would follow whichever thread saved last. No thread id is
		// empty, and the thread page always gives its own.
		return opts, errors.New("t: the thread's id is missing: give t=THREAD, as the thread page does")
	}
	if v, ok := q["ns"]; ok && v[0] != "*" {
		opts.Namespace = ckpt.NS(v[0])
	}
	f, err := ParseFilter(q.Get("filter"))
	opts.Filter = f
	return opts, err
}

// liveHead is what /head answers and /events sends: the id of the
// newest checkpoint a selection holds ("" when none) and, when that
// checkpoint does not read, why: the thread page draws it as a damaged
// row, so the live view names the same newest as the page it keeps live.
type liveHead struct {
	Newest  string `json:"newest"`
	Damaged string `json:"damaged,omitempty"`
}

// newest returns the newest checkpoint opts selects, as the thread page's
// first row; an unknown thread is ErrNotFound.
func (s *server) newest(ctx context.Context, opts ckpt.ListOptions) (liveHead, error) {
	var h liveHead
	for t, err := range s.st(ctx).List(ctx, opts) {
		if errors.Is(err, ckpt.ErrCorrupt) {
			// What the thread page draws around the damage: the newest
			// is the first of its rows, damaged or not.
			items, _, err := s.historyAround(ctx, opts)
			if err != nil || len(items) == 0 {
				return h, err
			}
			return liveHead{Newest: items[0].Cfg.CheckpointID, Damaged: items[0].Damage}, nil
		}
		if err != nil {
			return h, err
		}
		h.Newest = t.Config.CheckpointID
	}
	if h.Newest == "" {
		// Only now tell an unknown thread from an empty selection: the
		// summary reads the whole thread, too much for every poll.
		if _, err := s.st(ctx).Thread(ctx, opts.ThreadID); err != nil && !errors.Is(err, ckpt.ErrCorrupt) {
			return h, err
		}
	}
	return h, nil
}
