package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// metaColumns are the metadata keys the thread page shows as columns.
var metaColumns = []string{"step", "source", "node", "route", "reason", "run_id"}

// threadRow is one line of the threads page.
type threadRow struct {
	ckpt.ThreadInfo
	LastNode string
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
		s.fail(w, r, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	var all []ckpt.ThreadInfo
	for info, err := range s.store.Threads(ctx) {
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if strings.HasPrefix(info.ThreadID, prefix) {
			all = append(all, info)
		}
	}
	slices.SortStableFunc(all, func(a, b ckpt.ThreadInfo) int {
		return cmp.Or(b.NewestTime.Compare(a.NewestTime), strings.Compare(a.ThreadID, b.ThreadID))
	})
	d := threadsData{Query: prefix, Total: len(all), Offset: offset}
	end := min(len(all), offset+threadsPageSize)
	shown := all[min(offset, len(all)):end]
	for _, info := range shown {
		d.Threads = append(d.Threads, threadRow{ThreadInfo: info, LastNode: s.lastNode(ctx, info)})
	}
	s.lastNodes.keep(shown)
	if end < len(all) {
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
	for t, err := range s.store.List(ctx, ckpt.ListOptions{ThreadID: info.ThreadID, Limit: 1}) {
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
}

type threadData struct {
	Info       ckpt.ThreadInfo
	NS         string // the namespace shown; "*" for all
	Filter     string
	Limit      int
	Before     string
	Columns    []string
	Rows       []histRow
	Next       string
	First      string
	Newest     string
	Live       bool
	Namespaces []string
	HeadURL    string
	EventsURL  string // the live event stream of this selection
}

// thread shows one page of a thread's history, newest first.
func (s *server) thread(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	thread := q.Get("t")
	info, err := s.store.Thread(ctx, thread)
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
		s.fail(w, r, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	if opts.Before != "" {
		// A whole id passes as it is; a prefix must name one checkpoint.
		ns := ""
		if opts.Namespace != nil {
			ns = *opts.Namespace
		}
		if opts.Before, err = s.store.ResolveID(ctx, thread, ns, opts.Before); err != nil {
			s.fail(w, r, http.StatusBadRequest, "before: "+err.Error())
			return
		}
	}
	filterText := q.Get("filter")
	if opts.Filter, err = parseFilter(filterText); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	d := threadData{Info: info, NS: nsSel, Filter: filterText, Limit: opts.Limit, Before: opts.Before,
		Columns: metaColumns, Namespaces: info.Namespaces, Live: opts.Before == ""}
	var tuples []*ckpt.Tuple
	for t, err := range s.store.List(ctx, opts) {
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		tuples = append(tuples, t)
	}
	versions := map[string]map[string]string{}
	nodes := make([]histNode, len(tuples))
	for i, t := range tuples {
		versions[t.Config.CheckpointID] = t.Checkpoint.ChannelVersions
		nodes[i] = histNode{ID: t.Config.CheckpointID, NS: t.Config.CheckpointNS}
		if t.ParentConfig != nil {
			nodes[i].Parent = t.ParentConfig.CheckpointID
		}
	}
	graph := layoutGraph(nodes)
	for i, t := range tuples {
		row := histRow{ID: t.Config.CheckpointID, NS: t.Config.CheckpointNS, Parent: nodes[i].Parent,
			Time: t.Checkpoint.TS, Writes: len(t.PendingWrites), Graph: graph[i]}
		for _, k := range metaColumns {
			row.Meta = append(row.Meta, metaText(t.Metadata, k))
		}
		pv, ok := versions[row.Parent]
		if !ok && row.Parent != "" {
			if pt, err := s.store.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: row.NS, CheckpointID: row.Parent}); err == nil {
				pv, ok = pt.Checkpoint.ChannelVersions, true
			}
		}
		if ok || row.Parent == "" {
			row.Changed = strings.Join(changedChannels(pv, t.Checkpoint.ChannelVersions), ", ")
		}
		d.Rows = append(d.Rows, row)
	}
	nsParam := ""
	if opts.Namespace != nil {
		nsParam = *opts.Namespace
	}
	page := func(before string) string {
		u := s.link("/thread", "t", thread, "filter", filterText, "before", before, "limit", limitParam(opts.Limit, s.opts.PageSize))
		if opts.Namespace != nil {
			u += "&ns=" + url.QueryEscape(nsParam)
		}
		return u
	}
	if len(tuples) == opts.Limit {
		d.Next = page(tuples[len(tuples)-1].Config.CheckpointID)
	}
	if opts.Before != "" {
		d.First = page("")
	}
	d.HeadURL = s.link("/head", "t", thread, "filter", filterText)
	d.EventsURL = s.link("/events", "t", thread, "filter", filterText)
	if opts.Namespace != nil {
		d.HeadURL += "&ns=" + url.QueryEscape(nsParam)
		d.EventsURL += "&ns=" + url.QueryEscape(nsParam)
	}
	if len(tuples) > 0 {
		d.Newest = tuples[0].Config.CheckpointID
	}
	s.render(w, http.StatusOK, "thread", "thread "+thread, d)
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
	_ = json.NewEncoder(w).Encode(map[string]string{"newest": newest})
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
	send := func(id string) bool {
		b, _ := json.Marshal(map[string]string{"newest": id})
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
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		id, err := s.newestGated(ctx, opts)
		if err != nil {
			return
		}
		if id != newest {
			newest = id
			if !send(id) {
				return
			}
		}
	}
}

// headOptions reads the thread, namespace and filter a head or events
// request asks about.
func headOptions(q url.Values) (ckpt.ListOptions, error) {
	opts := ckpt.ListOptions{ThreadID: q.Get("t"), Limit: 1}
	if v, ok := q["ns"]; ok && v[0] != "*" {
		opts.Namespace = ckpt.NS(v[0])
	}
	f, err := parseFilter(q.Get("filter"))
	opts.Filter = f
	return opts, err
}

// newest returns the id of the newest checkpoint opts selects ("" when
// none does); an unknown thread is ErrNotFound.
func (s *server) newest(ctx context.Context, opts ckpt.ListOptions) (string, error) {
	newest := ""
	for t, err := range s.store.List(ctx, opts) {
		if err != nil {
			return "", err
		}
		newest = t.Config.CheckpointID
	}
	if newest == "" {
		// Only now tell an unknown thread from an empty selection: the
		// summary reads the whole thread, too much for every poll.
		if _, err := s.store.Thread(ctx, opts.ThreadID); err != nil {
			return "", err
		}
	}
	return newest, nil
}

// channelView is one channel on the checkpoint page.
type channelView struct {
	Name    string
	Version string
	Size    int
	Changed bool // a new version in this checkpoint
	// Appended is how many items this checkpoint appended to a list.
	Appended int
	Tree     *jnode
	Lazy     string // the URL that loads a large value
}

type writeView struct {
	ckpt.PendingWrite
	Tree jnode
}

type metaView struct {
	Key  string
	Tree jnode
}

type checkpointData struct {
	Thread    string
	NS        string
	ID        string
	Time      time.Time
	Parent    string
	ParentURL string
	DiffURL   string
	Channels  []channelView
	Meta      []metaView
	Writes    []writeView
	Tasks     int
	StateJSON string
}

// getTuple resolves the (thread, ns, id) of a request and reads the tuple.
// A malformed id is ErrInvalidConfig (400), a missing one ErrNotFound.
func (s *server) getTuple(ctx context.Context, thread, ns, id string) (*ckpt.Tuple, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: no checkpoint id given", ckpt.ErrInvalidConfig)
	}
	full, err := s.store.ResolveID(ctx, thread, ns, id)
	if err != nil {
		return nil, err
	}
	return s.store.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: full})
}

func (s *server) parentOf(ctx context.Context, t *ckpt.Tuple) *ckpt.Tuple {
	if t.ParentConfig == nil {
		return nil
	}
	p, err := s.store.GetTuple(ctx, *t.ParentConfig)
	if err != nil {
		return nil
	}
	return p
}

// checkpoint shows one checkpoint: state, metadata, parent, pending writes.
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	t, err := s.getTuple(ctx, q.Get("t"), q.Get("ns"), q.Get("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	parent := s.parentOf(ctx, t)
	cfg := t.Config
	d := checkpointData{Thread: cfg.ThreadID, NS: cfg.CheckpointNS, ID: cfg.CheckpointID, Time: t.Checkpoint.TS}
	if t.ParentConfig != nil {
		d.Parent = t.ParentConfig.CheckpointID
		d.ParentURL = s.link("/checkpoint", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", d.Parent)
		d.DiffURL = s.link("/diff", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "a", d.Parent, "b", cfg.CheckpointID)
	}
	state := map[string]any{}
	for _, ch := range sortedKeys(t.Checkpoint.ChannelValues) {
		raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		cv := channelView{Name: ch, Version: t.Checkpoint.ChannelVersions[ch], Size: len(raw)}
		cv.Changed = parent == nil || parent.Checkpoint.ChannelVersions[ch] != cv.Version
		if len(raw) > s.opts.InlineLimit {
			cv.Lazy = s.link("/value", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", cfg.CheckpointID, "ch", ch)
		} else {
			tree, appended, err := channelTree(t, parent, ch, 0)
			if err != nil {
				s.failErr(w, r, err)
				return
			}
			cv.Tree, cv.Appended = &tree, appended
		}
		if s.opts.AllowWrites {
			if v, err := JSONValue(raw); err == nil {
				state[ch] = v
			}
		}
		d.Channels = append(d.Channels, cv)
	}
	for _, k := range sortedKeys(t.Metadata) {
		d.Meta = append(d.Meta, metaView{Key: k, Tree: buildTree("", Jsonable(t.Metadata[k]), 1, -1, 0)})
	}
	tasks := map[string]bool{}
	for _, pw := range t.PendingWrites {
		v, err := pw.Value.Value()
		if err != nil {
			s.failErr(w, r, fmt.Errorf("pending write %s/%d: %w", pw.TaskID, pw.Idx, err))
			return
		}
		tasks[pw.TaskID] = true
		d.Writes = append(d.Writes, writeView{PendingWrite: pw, Tree: buildTree("", v, 1, -1, 0)})
	}
	d.Tasks = len(tasks)
	if s.opts.AllowWrites {
		d.StateJSON = marshalText(state, "  ")
	}
	s.render(w, http.StatusOK, "checkpoint", "checkpoint "+cfg.CheckpointID, d)
}

// channelTree draws one channel of t; when it is a list that extends the
// parent's list, the items past the parent's length are marked new.
func channelTree(t, parent *ckpt.Tuple, ch string, limit int) (jnode, int, error) {
	raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
	v, err := raw.Value()
	if err != nil {
		return jnode{}, 0, fmt.Errorf("channel %q: %w", ch, err)
	}
	newFrom, appended := -1, 0
	if list, isList := v.([]any); isList && parent != nil {
		// A list the parent did not have, or held as nil, is all new.
		praw, had := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if !had || !bytes.Equal(praw, raw) {
			var pl []any
			prefixOK := !had
			if had {
				if pv, err := praw.Value(); err == nil {
					pl, prefixOK = pv.([]any)
					prefixOK = prefixOK || pv == nil
				}
			}
			if prefixOK && len(pl) < len(list) && isPrefix(pl, list) {
				newFrom, appended = len(pl), len(list)-len(pl)
			}
		}
	}
	return buildTree("", v, 0, newFrom, limit), appended, nil
}

type valueData struct {
	Thread, NS, ID, Channel string
	Back                    string
	Tree                    jnode
	Appended                int
}

// value draws one channel's whole value: the target of a large value's
// "load" link. With fragment=1 it answers only the tree, for the
// checkpoint page's script to insert in place.
func (s *server) value(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	t, err := s.getTuple(ctx, q.Get("t"), q.Get("ns"), q.Get("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	ch := q.Get("ch")
	if _, ok := t.Checkpoint.ChannelValues[ch]; !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("checkpoint %s has no channel %q", t.Config.CheckpointID, ch))
		return
	}
	tree, appended, err := channelTree(t, s.parentOf(ctx, t), ch, 100000)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	cfg := t.Config
	d := valueData{Thread: cfg.ThreadID, NS: cfg.CheckpointNS, ID: cfg.CheckpointID, Channel: ch, Tree: tree, Appended: appended,
		Back: s.link("/checkpoint", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", cfg.CheckpointID)}
	if q.Get("fragment") == "1" {
		s.render(w, http.StatusOK, "fragment", "", d)
		return
	}
	s.render(w, http.StatusOK, "value", "channel "+ch, d)
}

type diffData struct {
	D        *Diff
	NS       string
	FromURL  string
	ToURL    string
	SwapURL  string
	Metadata []diffMeta
}

type diffMeta struct {
	Op, Key  string
	From, To any
}

// diff compares two checkpoints of a thread (ids or unique prefixes).
func (s *server) diff(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	thread, ns := q.Get("t"), q.Get("ns")
	if picks, ok := q["pick"]; ok && q.Get("a") == "" && q.Get("b") == "" {
		s.diffPicked(w, r, thread, picks)
		return
	}
	var ts [2]*ckpt.Tuple
	for i, p := range []string{"a", "b"} {
		t, err := s.getTuple(ctx, thread, ns, q.Get(p))
		if err != nil {
			s.fail(w, r, errStatus(err), p+": "+err.Error())
			return
		}
		ts[i] = t
	}
	d, err := DiffTuples(ts[0], ts[1])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	dd := diffData{D: d, NS: ns,
		FromURL: s.link("/checkpoint", "t", thread, "ns", ns, "id", d.From.ID),
		ToURL:   s.link("/checkpoint", "t", thread, "ns", ns, "id", d.To.ID),
		SwapURL: s.link("/diff", "t", thread, "ns", ns, "a", d.To.ID, "b", d.From.ID)}
	for _, k := range sortedKeys(d.MetadataAdded) {
		dd.Metadata = append(dd.Metadata, diffMeta{Op: "add", Key: k, To: d.MetadataAdded[k]})
	}
	for _, k := range sortedKeys(d.MetadataRemoved) {
		dd.Metadata = append(dd.Metadata, diffMeta{Op: "del", Key: k, From: d.MetadataRemoved[k]})
	}
	for _, k := range sortedKeys(d.MetadataChanged) {
		c := d.MetadataChanged[k]
		dd.Metadata = append(dd.Metadata, diffMeta{Op: "chg", Key: k, From: c.From, To: c.To})
	}
	s.render(w, http.StatusOK, "diff", "diff", dd)
}

// diffPicked answers the thread page's form of ticked rows: two values
// "id" or "id@namespace" (an id never holds '@'), sent on to the diff of
// the older to the newer (ids sort by time).
func (s *server) diffPicked(w http.ResponseWriter, r *http.Request, thread string, picks []string) {
	if len(picks) != 2 {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("tick two checkpoints to diff, not %d", len(picks)))
		return
	}
	var ids, nss [2]string
	for i, p := range picks {
		ids[i], nss[i], _ = strings.Cut(p, "@")
	}
	if nss[0] != nss[1] {
		s.fail(w, r, http.StatusBadRequest, "the two ticked checkpoints are in different namespaces; a diff compares two of one namespace")
		return
	}
	if ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	http.Redirect(w, r, s.link("/diff", "t", thread, "ns", nss[0], "a", ids[0], "b", ids[1]), http.StatusSeeOther)
}

// bar is one bar of a stats chart.
type bar struct {
	Label string
	Value int64
	Y, W  int
	TextY int
	Class string
}

type statsData struct {
	S       *ckpt.Stats
	AsOf    time.Time     // when S was computed
	Took    time.Duration // how long that took
	Every   time.Duration // how long S is shown before it is computed again
	Buckets []bar
	Saved   []bar
	ChartH  int
	SavedH  int
}

const chartW = 400

// stats shows the store's statistics with two bar charts drawn as inline
// SVG on the server. Store.Stats reads the whole file, so the figures are
// computed again only when they are older than statsMaxAge (the page says
// as of when): a script reloading the page costs one template run.
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	st, at, took, err := s.cachedStats.get(r.Context(), s.gate.now, s.store.Stats)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := statsData{S: st, AsOf: at, Took: took.Round(time.Millisecond), Every: statsMaxAge(took).Round(time.Second)}
	var bs []bar
	for _, b := range st.Buckets {
		bs = append(bs, bar{Label: b.Name, Value: b.Bytes, Class: "b"})
	}
	d.Buckets, d.ChartH = layoutBars(bs)
	d.Saved, d.SavedH = layoutBars([]bar{
		{Label: "stored (all parts)", Value: sumBytes(st.Buckets), Class: "b"},
		{Label: "saved: unchanged channels", Value: st.SharedBytes, Class: "s"},
		{Label: "saved: list deltas", Value: st.DeltaSavedBytes, Class: "s"},
	})
	s.render(w, http.StatusOK, "stats", "stats", d)
}

func sumBytes(bs []ckpt.BucketStats) int64 {
	var n int64
	for _, b := range bs {
		n += b.Bytes
	}
	return n
}

func layoutBars(bs []bar) ([]bar, int) {
	var maxV int64 = 1
	for _, b := range bs {
		maxV = max(maxV, b.Value)
	}
	for i := range bs {
		bs[i].Y = i * 22
		bs[i].TextY = i*22 + 14
		bs[i].W = max(1, int(int64(chartW)*max(0, bs[i].Value)/maxV))
	}
	return bs, len(bs)*22 + 4
}

// parseFilter reads the thread page's metadata filter: key=value pairs
// separated by commas. A value that is JSON (3, true, "x", {"a":1}) is
// taken as JSON; anything else is a string, so node=writer works without
// quotes (as `ckpt log --filter` reads it).
func parseFilter(text string) (map[string]any, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	f := map[string]any{}
	for _, p := range splitFilter(text) {
		p = strings.TrimSpace(p)
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("filter %q: want key=value[, key=value ...]", p)
		}
		f[k] = filterValue(strings.TrimSpace(v))
	}
	nf, err := saverkit.NormalizeFilter(f)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return nf, nil
}

// splitFilter splits on commas outside JSON brackets and quotes.
func splitFilter(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func filterValue(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func limitParam(limit, def int) string {
	if limit == def {
		return ""
	}
	return strconv.Itoa(limit)
}

// metaText shows one metadata value in a table cell.
func metaText(m ckpt.Metadata, k string) string {
	v, ok := m[k]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return jsonText(Jsonable(v))
}

func changedChannels(parent, cur map[string]string) []string {
	var out []string
	for _, ch := range sortedKeys(cur) {
		if parent[ch] != cur[ch] {
			out = append(out, ch)
		}
	}
	return out
}

func isPrefix(a, b []any) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if !equalValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

// equalValue compares two decoded values by their JSON form; decoded
// values are plain data, so this is exact enough for "was this item
// already there".
func equalValue(a, b any) bool {
	ja, err1 := json.Marshal(Jsonable(a))
	jb, err2 := json.Marshal(Jsonable(b))
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
