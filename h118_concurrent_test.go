package ckpt_test

// h118: a concurrency fault hunt against a model. One store (Sync, NoSync,
// Async, and an encrypted one whose key rotates under Rekey) takes, from
// many goroutines at once, every public operation: Put, PutFull, PutWrites
// (first-wins and replacing special writes), forks by Put and by Save with
// WriteOptions.Parent and IfHead, a reused version with the same and with
// other content, Save, DeleteThread, Prune, DeleteForRuns, CopyThread
// (with and without Replace), Import, GC (KeepLast, MaxAge, ThreadTTL, on
// checkpoints whose ids are a year old), Compact, BackupFile and Backup,
// Export, Verify, Rekey, Flush, ApplyLog, and reads of every kind (GetTuple,
// a Reader, List with filters, limits and Before, Load, Latest, History,
// HistoryFrom, Branches, Threads, Thread, Stats, ResolveID), with Close at
// a random moment in the middle of it all.
//
// Every checkpoint carries an op tag (its metadata "op") that names the
// call that wrote it, so any read can be matched to the model's record of
// that call: a read shows only checkpoints of calls that did not fail, in
// the thread they were written to (or copied or imported to), exact
// (state, versions, metadata, parent, pending writes), never one deleted by
// its owner before the read began; it shows every checkpoint acknowledged
// before the read began that no delete, Prune, DeleteForRuns or GC could
// have removed. A backup must be a prefix of each owner's calls; an export
// of each thread's. After Close and a reopen (twice) the whole store is
// checked against the model and Verify must be clean. Every call has a
// deadline, and a watchdog dumps every goroutine if one does not return.
//
// CKPT_H118_SEED (default 1180), CKPT_H118_ROUNDS (default 1),
// CKPT_H118_DUR (run length of each mode, default 2s), CKPT_H118_MODES
// (comma list of sync,nosync,async,enc,encasync,nowal,nowalasync,nowalenc;
// default the first four).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/oklog/ulid/v2"
)

const (
	h118Inflight int8 = iota
	h118Acked
	h118Failed
	h118Never // a regular pending write under a key already stored: first wins, this one must never show
)

type h118Val struct {
	val        string // channel + "=" + value
	status     int8
	start, ack int64
	async      bool
}

type h118PW struct {
	special bool
	path    string
	vals    []*h118Val
}

type h118Entry struct {
	th                *h118Thread
	ns, op, id        string
	parent            string
	owner, run        string
	step              int64
	state             map[string]any
	versions          map[string]string // nil for Save: the store picks them
	old, async        bool
	status            int8
	start, ack        int64
	delStart, delAck  int64
	copyOf            *h118Entry // a CopyThread's or Import's copy of this
	copyStart         int64
	copyEnd           int64
	pw                map[string]*h118PW // task/idx
	fullKeys          []string           // PutFull's writes: shown with the checkpoint, always
	observedInFlight  bool
	observedInFlightW string
}

type h118Thread struct {
	name, owner, kind string
	entries           []*h118Entry
	byOp              map[string][]*h118Entry
	m                 *h118Model
	log               []string // what was done to it, for CKPT_H118_DUMP
}

// note logs what happened to th (under the model's lock).
func (h *h118Run) note(th *h118Thread, f string, a ...any) {
	h.m.mu.Lock()
	th.log = append(th.log, fmt.Sprintf("%d: ", h.clk.Load())+fmt.Sprintf(f, a...))
	h.m.mu.Unlock()
}

type h118Flush struct{ start, end int64 }

type h118Model struct {
	mu       sync.Mutex
	threads  map[string]*h118Thread
	keepLast int
	async    bool // the store's default durability is Async
	flushes  []h118Flush
	final    bool // after Close: everything acknowledged counts
	glog     []string
}

func (m *h118Model) thread(name, owner, kind string) *h118Thread {
	th := m.threads[name]
	if th == nil {
		th = &h118Thread{name: name, owner: owner, kind: kind, byOp: map[string][]*h118Entry{}, m: m}
		m.threads[name] = th
	}
	return th
}

func (th *h118Thread) add(e *h118Entry) {
	e.th = th
	th.entries = append(th.entries, e)
	th.byOp[e.op] = append(th.byOp[e.op], e)
}

// safe: no GC could have removed e (fewer than keepLast checkpoints newer
// than e were ever tried in its thread and namespace).
func (m *h118Model) safe(e *h118Entry) bool {
	if m.keepLast == 0 {
		return true
	}
	n := 0
	for _, o := range e.th.entries {
		if o != e && o.ns == e.ns && (o.id == "" || o.id > e.id) {
			n++
		}
	}
	return n < m.keepLast
}

// visible: e's ack makes it visible to a read begun at r0.
func (m *h118Model) visible(async bool, ack, r0 int64, queued bool) bool {
	if ack >= r0 {
		return false
	}
	if !async || m.final || queued {
		return true
	}
	for _, f := range m.flushes {
		if f.start > ack && f.end < r0 {
			return true
		}
	}
	return false
}

// required: a read begun at r0 and ended at r1 must show e. queued counts
// an Async write as soon as it was queued (a backup's rule).
func (m *h118Model) required(e *h118Entry, r0, r1 int64, queued bool) bool {
	if e.status != h118Acked || e.old || !m.visible(e.async, e.ack, r0, queued) {
		return false
	}
	if e.delStart != 0 && e.delStart <= r1 {
		return false
	}
	if !m.safe(e) {
		return false
	}
	if e.copyOf != nil && !e.copyOf.th.m.required(e.copyOf, e.copyStart, e.copyEnd, true) {
		return false
	}
	return true
}

func (m *h118Model) dump(th *h118Thread) string {
	if os.Getenv("CKPT_H118_DUMP") == "" {
		return ""
	}
	var sb strings.Builder
	for _, e := range th.entries {
		src := ""
		if e.copyOf != nil {
			src = fmt.Sprintf(" copy of %s@%d..%d", e.copyOf.th.name, e.copyStart, e.copyEnd)
		}
		fmt.Fprintf(&sb, "\n\t%s ns %q %s st %d start %d ack %d del %d/%d async %v parent %s%s", e.op, e.ns, e.id, e.status, e.start, e.ack, e.delStart, e.delAck, e.async, e.parent, src)
	}
	for _, l := range th.log {
		fmt.Fprintf(&sb, "\n\t\t%s", l)
	}
	for _, l := range m.glog {
		fmt.Fprintf(&sb, "\n\t\t\t%s", l)
	}
	return sb.String()
}

func (m *h118Model) legal(e *h118Entry, r0 int64) bool {
	if e.status == h118Failed {
		return false
	}
	if e.delAck != 0 && e.delAck < r0 {
		return false
	}
	return true
}

// shown is one checkpoint as a read returned it, decoded.
type h118Shown struct {
	thread, ns, id, parent string
	meta                   ckpt.Metadata
	decode                 func(ch string, v any) error
	channels               []string
	versions               map[string]string // nil: not compared
	pws                    []ckpt.PendingWrite
	hasPW                  bool
}

func h118FromTuple(t *ckpt.Tuple) *h118Shown {
	sh := &h118Shown{thread: t.Config.ThreadID, ns: t.Config.CheckpointNS, id: t.Config.CheckpointID,
		meta: t.Metadata, decode: t.Decode, versions: t.Checkpoint.ChannelVersions, pws: t.PendingWrites, hasPW: true}
	if t.ParentConfig != nil {
		sh.parent = t.ParentConfig.CheckpointID
	}
	for ch := range t.Checkpoint.ChannelValues {
		sh.channels = append(sh.channels, ch)
	}
	return sh
}

func h118FromSnap(thread string, s *ckpt.Snapshot) *h118Shown {
	sh := &h118Shown{thread: thread, id: s.CheckpointID, parent: s.ParentID, meta: s.Metadata, decode: s.Decode}
	for ch := range s.State {
		sh.channels = append(sh.channels, ch)
	}
	return sh
}

func h118DecodeEq(dec func(string, any) error, ch string, want any) error {
	switch w := want.(type) {
	case string:
		var g string
		if err := dec(ch, &g); err != nil {
			return err
		}
		if g != w {
			return fmt.Errorf("channel %s = %.60q, want %.60q", ch, g, w)
		}
	case int64:
		var g int64
		if err := dec(ch, &g); err != nil {
			return err
		}
		if g != w {
			return fmt.Errorf("channel %s = %d, want %d", ch, g, w)
		}
	case []string:
		var g []string
		if err := dec(ch, &g); err != nil {
			return err
		}
		if !slices.Equal(g, w) {
			return fmt.Errorf("channel %s = %d items %v, want %d items %v", ch, len(g), h118Tail(g), len(w), h118Tail(w))
		}
	default:
		return fmt.Errorf("channel %s: model type %T", ch, want)
	}
	return nil
}

func h118Tail(s []string) []string {
	if len(s) > 3 {
		return s[len(s)-3:]
	}
	return s
}

func h118PWVal(dec func(any) error, ch string) (string, error) {
	var v string
	if err := dec(&v); err != nil {
		return "", err
	}
	return ch + "=" + v, nil
}

// check matches sh against the model; r0/r1 bound the read. It returns
// the entry it matched (nil and an error if none may be shown).
func (m *h118Model) check(sh *h118Shown, r0, r1 int64, queued bool) (*h118Entry, error) {
	th := m.threads[sh.thread]
	if th == nil {
		return nil, fmt.Errorf("thread %q is not in the model", sh.thread)
	}
	op, _ := sh.meta["op"].(string)
	cands := th.byOp[op]
	if len(cands) == 0 {
		return nil, fmt.Errorf("thread %q ns %q checkpoint %s: op %q (meta %v) was never written to this thread", sh.thread, sh.ns, sh.id, op, sh.meta)
	}
	var legal []*h118Entry
	var why []string
	for _, e := range cands {
		if e.ns != sh.ns || (e.id != "" && e.id != sh.id) {
			why = append(why, fmt.Sprintf("ns %q id %s", e.ns, e.id))
			continue
		}
		if !m.legal(e, r0) {
			why = append(why, fmt.Sprintf("status %d delAck %d (read began %d)", e.status, e.delAck, r0))
			continue
		}
		legal = append(legal, e)
	}
	if len(legal) == 0 {
		return nil, fmt.Errorf("thread %q ns %q checkpoint %s (op %s) may not be shown: %s%s", sh.thread, sh.ns, sh.id, op, strings.Join(why, "; "), m.dump(th))
	}
	// Acknowledged ones first; the first that matches in full.
	sort.SliceStable(legal, func(i, j int) bool { return legal[i].status == h118Acked && legal[j].status != h118Acked })
	var firstErr error
	for _, e := range legal {
		got, err := m.checkOne(sh, e, op, r0, r1, queued)
		if err == nil {
			if e.status == h118Inflight {
				e.observedInFlight = true
			}
			return got, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return legal[0], firstErr
}

func (m *h118Model) checkOne(sh *h118Shown, e *h118Entry, op string, r0, r1 int64, queued bool) (*h118Entry, error) {
	bad := func(f string, a ...any) (*h118Entry, error) {
		return e, fmt.Errorf("thread %q ns %q checkpoint %s (op %s): %s", sh.thread, sh.ns, sh.id, op, fmt.Sprintf(f, a...))
	}
	if sh.parent != e.parent {
		return bad("parent %q, want %q%s", sh.parent, e.parent, m.dump(e.th))
	}
	if got := fmt.Sprint(sh.meta["step"]); got != strconv.FormatInt(e.step, 10) {
		return bad("metadata step %s, want %d", got, e.step)
	}
	if got := fmt.Sprint(sh.meta["run_id"]); got != e.run {
		return bad("metadata run_id %s, want %s", got, e.run)
	}
	if got := fmt.Sprint(sh.meta["owner"]); got != e.owner {
		return bad("metadata owner %s, want %s", got, e.owner)
	}
	chs := slices.Sorted(func(yield func(string) bool) {
		for ch := range e.state {
			if !yield(ch) {
				return
			}
		}
	})
	got := slices.Clone(sh.channels)
	sort.Strings(got)
	if !slices.Equal(got, chs) {
		return bad("channels %v, want %v", got, chs)
	}
	for _, ch := range chs {
		if err := h118DecodeEq(sh.decode, ch, e.state[ch]); err != nil {
			return bad("%v", err)
		}
	}
	if sh.versions != nil && e.versions != nil && !reflect.DeepEqual(sh.versions, e.versions) {
		return bad("versions %v, want %v", sh.versions, e.versions)
	}
	if sh.hasPW {
		seen := map[string]bool{}
		for _, p := range sh.pws {
			k := fmt.Sprintf("%s/%d", p.TaskID, p.Idx)
			if seen[k] {
				return bad("pending write %s twice", k)
			}
			seen[k] = true
			mp := e.pw[k]
			if mp == nil {
				return bad("pending write %s was never written", k)
			}
			if p.TaskPath != mp.path {
				return bad("pending write %s task path %q, want %q", k, p.TaskPath, mp.path)
			}
			v, err := h118PWVal(func(x any) error { return ckptDecodeRaw(p.Value, x) }, p.Channel)
			if err != nil {
				return bad("pending write %s: %v", k, err)
			}
			ok := false
			for _, mv := range mp.vals {
				if mv.val == v && mv.status != h118Failed && mv.status != h118Never {
					ok = true
				}
			}
			if !ok {
				var vs []string
				for _, mv := range mp.vals {
					vs = append(vs, fmt.Sprintf("%.40s(%d)", mv.val, mv.status))
				}
				return bad("pending write %s = %.40s, want one of %v", k, v, vs)
			}
		}
		for _, k := range e.fullKeys {
			if !seen[k] {
				return bad("PutFull's pending write %s is missing: the checkpoint shows without its writes", k)
			}
		}
		if m.required(e, r0, r1, queued) {
			for k, mp := range e.pw {
				for _, mv := range mp.vals {
					if mv.status == h118Acked && m.visible(mv.async, mv.ack, r0, queued) && !seen[k] {
						return bad("acknowledged pending write %s (%.40s) is missing; shown %v%s", k, mv.val, slices.Sorted(func(y func(string) bool) {
							for k := range seen {
								if !y(k) {
									return
								}
							}
						}), m.dump(e.th))
					}
				}
			}
		}
	}
	return e, nil
}

func ckptDecodeRaw(r ckpt.Raw, v any) error {
	t := &ckpt.Tuple{Checkpoint: ckpt.Checkpoint{ChannelValues: map[string]any{"x": r}}}
	return t.Decode("x", v)
}

// ---- the run ----

type h118Mode struct {
	name  string
	opts  ckpt.Options
	enc   bool
	async bool
}

type h118Run struct {
	t        *testing.T
	m        *h118Model
	s        atomic.Pointer[ckpt.Store]
	path     string
	dir      string
	opts     ckpt.Options
	mode     h118Mode
	clk      atomic.Int64
	stop     atomic.Bool
	closed   atomic.Bool
	seed     uint64
	findMu   sync.Mutex
	findings []string
	countMu  sync.Mutex
	counts   map[string]int
	errKinds map[string]int
	infMu    sync.Mutex
	inflight map[int64]h118Call
	callN    int64
	opN      atomic.Int64
	asyncMu  sync.Mutex
	asyncErr []error
	tmpl     *h118Model
	dumps    map[string][]byte // imported thread (or "all") -> dump
	oldBase  time.Time
	oldN     atomic.Uint64
	owners   int
}

type h118Call struct {
	kind  string
	start time.Time
}

const (
	h118CallLimit = 45 * time.Second
	h118HangLimit = 75 * time.Second
)

func (h *h118Run) tick() int64 { return h.clk.Add(1) }

func (h *h118Run) find(f string, a ...any) {
	msg := fmt.Sprintf("[%s seed %d] ", h.mode.name, h.seed) + fmt.Sprintf(f, a...)
	h.findMu.Lock()
	defer h.findMu.Unlock()
	if len(h.findings) < 200 {
		h.findings = append(h.findings, msg)
	}
}

// call runs fn with a deadline, counting it and catching a panic.
func (h *h118Run) call(kind string, fn func(ctx context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), h118CallLimit)
	defer cancel()
	h.infMu.Lock()
	h.callN++
	n := h.callN
	h.inflight[n] = h118Call{kind, time.Now()}
	h.infMu.Unlock()
	defer func() {
		h.infMu.Lock()
		delete(h.inflight, n)
		h.infMu.Unlock()
		if r := recover(); r != nil {
			h.find("%s panicked: %v\n%s", kind, r, debug.Stack())
			err = fmt.Errorf("panic: %v", r)
		}
		h.countMu.Lock()
		h.counts[kind]++
		if err != nil {
			h.errKinds[kind+": "+h118ErrName(err)]++
		}
		h.countMu.Unlock()
	}()
	return fn(ctx)
}

func h118ErrName(err error) string {
	for _, c := range []struct {
		e error
		n string
	}{{ckpt.ErrClosed, "ErrClosed"}, {ckpt.ErrNotFound, "ErrNotFound"}, {ckpt.ErrConflict, "ErrConflict"},
		{ckpt.ErrVersionReused, "ErrVersionReused"}, {ckpt.ErrExists, "ErrExists"}, {ckpt.ErrKey, "ErrKey"},
		{ckpt.ErrCorrupt, "ErrCorrupt"}, {ckpt.ErrFailed, "ErrFailed"}, {ckpt.ErrInvalidConfig, "ErrInvalidConfig"},
		{context.DeadlineExceeded, "deadline"}, {context.Canceled, "canceled"}} {
		if errors.Is(err, c.e) {
			return c.n
		}
	}
	return "other"
}

// unexpected reports err unless it is nil or one of ok; it returns whether
// the store is closed (the caller stops).
func (h *h118Run) unexpected(what string, err error, ok ...error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ckpt.ErrClosed) {
		if !h.closed.Load() && !h.stop.Load() {
			h.find("%s: ErrClosed before Close: %v", what, err)
		}
		return true
	}
	for _, o := range ok {
		if errors.Is(err, o) {
			return false
		}
	}
	if h.closed.Load() {
		h.find("%s during/after Close: not ErrClosed: %v", what, err)
		return true
	}
	h.find("%s: %v", what, err)
	return false
}

func (h *h118Run) watchdog(done chan struct{}) {
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case <-tk.C:
		}
		h.infMu.Lock()
		var late []string
		for _, c := range h.inflight {
			if time.Since(c.start) > h118HangLimit {
				late = append(late, fmt.Sprintf("%s for %v", c.kind, time.Since(c.start).Round(time.Second)))
			}
		}
		h.infMu.Unlock()
		if len(late) > 0 {
			buf := make([]byte, 64<<20)
			buf = buf[:runtime.Stack(buf, true)]
			f := filepath.Join(os.TempDir(), fmt.Sprintf("h118-hang-%s-%d.txt", h.mode.name, h.seed))
			_ = os.WriteFile(f, buf, 0o644)
			fmt.Fprintf(os.Stderr, "h118 HANG [%s seed %d]: %v; stacks in %s\n%s\n", h.mode.name, h.seed, late, f, buf)
			panic(fmt.Sprintf("h118: calls hang: %v (seed %d, mode %s)", late, h.seed, h.mode.name))
		}
	}
}

func (h *h118Run) store() *ckpt.Store { return h.s.Load() }

func (h *h118Run) newOp(owner string) string {
	return fmt.Sprintf("%s-op%d", owner, h.opN.Add(1))
}

func (h *h118Run) oldID() string {
	n := h.oldN.Add(1)
	ms := uint64(h.oldBase.UnixMilli()) + n
	var entropy [10]byte
	x := h.seed*1000003 + n
	for i := range entropy {
		entropy[i] = byte(x >> (8 * (i % 8)))
	}
	return ulid.MustNew(ms, bytes.NewReader(entropy[:])).String()
}

// ---- owners ----

type h118Owner struct {
	h       *h118Run
	name    string
	r       *rand.Rand
	savers  []*h118Thread // Put/PutFull/PutWrites, namespaces "" and "sub"
	simple  *h118Thread   // Save
	copy    *h118Thread   // CopyThread's destination
	heads   map[string]*h118Entry
	step    int64
	run     int
	runs    []string
	reader  *ckpt.Reader
	stopped bool
}

func h118HeadKey(th *h118Thread, ns string) string { return th.name + "\x00" + ns }

func (o *h118Owner) curRun() string { return fmt.Sprintf("%s-r%d", o.name, o.run) }

func (o *h118Owner) durability(th *h118Thread) (ckpt.Durability, bool) {
	if th.kind == "old" {
		// Its TTL may come at any moment: a write must fail at once.
		return ckpt.Sync, false
	}
	if o.r.IntN(10) != 0 {
		return ckpt.DurabilityDefault, o.h.mode.async
	}
	switch o.r.IntN(3) {
	case 0:
		return ckpt.Sync, false
	case 1:
		return ckpt.NoSync, false
	}
	return ckpt.Async, true
}

// strict: errors that only a synchronous write reports at once.
func (o *h118Owner) strict() bool { return !o.h.mode.async }

func (o *h118Owner) register(e *h118Entry, th *h118Thread) {
	m := o.h.m
	m.mu.Lock()
	e.start = o.h.tick()
	th.add(e)
	m.mu.Unlock()
}

func (o *h118Owner) settle(e *h118Entry, err error) {
	m := o.h.m
	m.mu.Lock()
	e.ack = o.h.tick()
	if err == nil {
		e.status = h118Acked
	} else {
		e.status = h118Failed
	}
	for _, p := range e.pw {
		for _, v := range p.vals {
			if v.status == h118Inflight {
				v.ack = e.ack
				v.status = e.status
			}
		}
	}
	if e.status == h118Failed && e.observedInFlight {
		o.h.find("thread %q op %s: a read showed it, then its write failed: %v", e.th.name, e.op, err)
	}
	m.mu.Unlock()
}

func (o *h118Owner) nextState(parent *h118Entry, tag string, versions bool) (map[string]any, map[string]string, map[string]string) {
	st := map[string]any{}
	vs := map[string]string{}
	if parent != nil {
		for k, v := range parent.state {
			st[k] = v
		}
		for k, v := range parent.versions {
			vs[k] = v
		}
	}
	nv := map[string]string{}
	set := func(ch string, v any) {
		st[ch] = v
		vs[ch] = tag
		nv[ch] = tag
	}
	set("v", tag)
	set("n", o.step)
	if _, ok := st["log"]; !ok || o.r.IntN(10) < 7 {
		old, _ := st["log"].([]string)
		set("log", append(slices.Clip(old), tag))
	}
	if o.r.IntN(25) == 0 {
		set("big", strings.Repeat(tag+"|", 6000/len(tag)+1))
	}
	if !versions {
		return st, nil, nil
	}
	return st, vs, nv
}

func (o *h118Owner) meta(e *h118Entry) ckpt.Metadata {
	return ckpt.Metadata{"op": e.op, "owner": e.owner, "run_id": e.run, "step": e.step, "thread": e.th.name}
}

func (o *h118Owner) newEntry(th *h118Thread, ns string) *h118Entry {
	o.step++
	if o.step%6 == 0 {
		o.run++
		o.runs = append(o.runs, o.curRun())
	}
	return &h118Entry{th: th, ns: ns, op: o.h.newOp(o.name), owner: o.name, run: o.curRun(), step: o.step, pw: map[string]*h118PW{}}
}

func (o *h118Owner) pickPW(e *h118Entry, full bool) ([]ckpt.TaskWrites, []string) {
	var tws []ckpt.TaskWrites
	var keys []string
	nt := 1
	if full {
		nt = 1 + o.r.IntN(2)
	}
	for range nt {
		task := fmt.Sprintf("task%d", o.r.IntN(1<<30))
		if !full && len(e.pw) > 0 && o.r.IntN(3) == 0 {
			// Again under a task already written: regular writes keep the
			// first value, special ones replace it.
			for k := range e.pw {
				task = k[:strings.LastIndexByte(k, '/')]
				break
			}
		}
		path := "path-" + task
		var ws []ckpt.Write
		for i := range 1 + o.r.IntN(3) {
			ch := "w" + strconv.Itoa(o.r.IntN(3))
			if o.r.IntN(5) == 0 {
				ch = []string{saverkit.ChannelError, saverkit.ChannelInterrupt}[o.r.IntN(2)]
			}
			val := fmt.Sprintf("%s|%s|%s|%d|%s", e.th.name, e.op, task, i, o.h.newOp(o.name))
			ws = append(ws, ckpt.Write{Channel: ch, Value: val})
			idx, special := saverkit.WriteIndex(ch, i)
			k := fmt.Sprintf("%s/%d", task, idx)
			keys = append(keys, k)
			mp := e.pw[k]
			if mp == nil {
				mp = &h118PW{special: special, path: path}
				e.pw[k] = mp
			}
			st := h118Inflight
			if !special {
				for _, v := range mp.vals {
					if v.status != h118Failed && v.status != h118Never {
						st = h118Never // first wins
					}
				}
			}
			_ = path
			mp.vals = append(mp.vals, &h118Val{val: ch + "=" + val, status: st})
		}
		tws = append(tws, ckpt.TaskWrites{TaskID: task, TaskPath: path, Writes: ws})
	}
	return tws, keys
}

func (o *h118Owner) pickEntry(th *h118Thread, ns string, safeOnly bool) *h118Entry {
	m := o.h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	var c []*h118Entry
	for _, e := range th.entries {
		if e.ns == ns && e.id != "" && e.status == h118Acked && e.delStart == 0 && (!safeOnly || (m.safe(e) && !e.old)) {
			c = append(c, e)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[o.r.IntN(len(c))]
}

// resync reads the heads of th back from the store (after a delete that
// may have removed them, or one whose outcome is unknown).
func (o *h118Owner) resync(th *h118Thread) {
	h := o.h
	if h.mode.async {
		if err := h.call("Flush", func(ctx context.Context) error { return h.store().Flush(ctx) }); err != nil {
			o.stopped = h.unexpected("Flush", err)
			h.noteFlushErr(err)
		}
	}
	for _, ns := range []string{"", "sub"} {
		var tup *ckpt.Tuple
		r0 := h.tick()
		err := h.call("GetTuple", func(ctx context.Context) error {
			var err error
			tup, err = h.store().GetTuple(ctx, ckpt.Config{ThreadID: th.name, CheckpointNS: ns})
			return err
		})
		r1 := h.tick()
		key := h118HeadKey(th, ns)
		if errors.Is(err, ckpt.ErrNotFound) {
			h.note(th, "resync ns %q: none", ns)
			delete(o.heads, key)
			continue
		}
		if err != nil {
			o.stopped = h.unexpected("resync GetTuple", err)
			return
		}
		h.note(th, "resync ns %q: %s", ns, tup.Config.CheckpointID)
		h.m.mu.Lock()
		e, cerr := h.m.check(h118FromTuple(tup), r0, r1, false)
		h.m.mu.Unlock()
		if cerr != nil {
			h.find("resync: %v", cerr)
			delete(o.heads, key)
			continue
		}
		o.heads[key] = e
	}
}

func (o *h118Owner) ctx(ctx context.Context, wo ckpt.WriteOptions) context.Context {
	return ckpt.WithWriteOptions(ctx, wo)
}

func (o *h118Owner) put(th *h118Thread, ns string, kind string) {
	h := o.h
	key := h118HeadKey(th, ns)
	head := o.heads[key]
	parent := head
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	expect := []error{}
	var wantErr error
	switch kind {
	case "fork":
		safeOnly := async || o.r.IntN(2) == 0
		parent = o.pickEntry(th, ns, safeOnly)
		if parent == nil {
			parent = head
		}
		if !safeOnly || th.kind == "old" {
			expect = append(expect, ckpt.ErrNotFound)
		}
	case "ifhead":
		wo.IfHead = true
		if th.kind == "old" {
			expect = append(expect, ckpt.ErrConflict)
		}
	case "stale":
		if async || head == nil {
			return
		}
		parent = o.pickEntry(th, ns, false)
		if parent == nil || parent == head {
			return
		}
		wo.IfHead = true
		wantErr = ckpt.ErrConflict
	case "reuse", "reuse-same":
		if async || head == nil || head.versions["v"] == "" {
			return
		}
	}
	if th.kind == "old" {
		expect = append(expect, ckpt.ErrNotFound) // the thread's TTL may have come
	}
	e := o.newEntry(th, ns)
	e.async = async
	e.state, e.versions, _ = o.nextState(parent, e.op, true)
	nv := map[string]string{}
	for ch, v := range e.versions {
		if v == e.op {
			nv[ch] = v
		}
	}
	switch kind {
	case "reuse":
		// Other bytes under the head's version of "v": refused.
		e.versions["v"] = head.versions["v"]
		nv["v"] = head.versions["v"]
		wantErr = ckpt.ErrVersionReused
	case "reuse-same":
		// The same bytes under the same version: shared, fine.
		e.state["v"] = head.state["v"]
		e.versions["v"] = head.versions["v"]
		nv["v"] = head.versions["v"]
	}
	cp := ckpt.Checkpoint{V: 4, ChannelValues: map[string]any{}, ChannelVersions: e.versions}
	for ch := range nv {
		cp.ChannelValues[ch] = e.state[ch]
	}
	if th.kind == "old" {
		cp.ID = h.oldID()
		e.id = cp.ID
		e.old = true
	}
	cfg := ckpt.Config{ThreadID: th.name, CheckpointNS: ns}
	if parent != nil {
		cfg.CheckpointID = parent.id
		e.parent = parent.id
	}
	full := kind == "full"
	var tws []ckpt.TaskWrites
	if full {
		tws, e.fullKeys = o.pickPW(e, true)
	}
	o.register(e, th)
	var out ckpt.Config
	op := "Put"
	if full {
		op = "PutFull"
	}
	err := h.call(op, func(ctx context.Context) error {
		var err error
		out, err = h.store().PutFull(o.ctx(ctx, wo), cfg, cp, o.meta(e), nv, tws)
		return err
	})
	if err == nil {
		h.m.mu.Lock()
		if e.id != "" && e.id != out.CheckpointID {
			h.find("%s returned id %s, given %s", op, out.CheckpointID, e.id)
		}
		e.id = out.CheckpointID
		h.m.mu.Unlock()
	}
	o.settle(e, err)
	h.note(th, "%s %s %s ns %q %s parent %s: %v", op, kind, e.op, ns, e.id, e.parent, err)
	if wantErr != nil {
		if err == nil {
			h.find("%s %s on %q: returned nil, want %v", op, kind, th.name, wantErr)
		} else if !errors.Is(err, wantErr) {
			o.stopped = h.unexpected(op+" "+kind, err, append(expect, ckpt.ErrNotFound)...)
		}
		if err == nil {
			o.heads[key] = e
		}
		return
	}
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			if parent != nil && parent == head && th.kind != "old" {
				h.m.mu.Lock()
				req := h.m.required(head, e.start, e.ack, true)
				h.m.mu.Unlock()
				if req {
					h.find("%s %s on %q ns %q: parent %s (the head, acknowledged, never deleted) not found: %v", op, kind, th.name, ns, head.id, err)
				}
			}
			o.resync(th)
			return
		}
		o.stopped = h.unexpected(op+" "+kind, err, expect...)
		return
	}
	o.heads[key] = e
}

func (o *h118Owner) putWrites(th *h118Thread, ns string) {
	h := o.h
	target := o.heads[h118HeadKey(th, ns)]
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	if o.r.IntN(3) == 0 {
		if x := o.pickEntry(th, ns, async); x != nil {
			target = x
		}
	}
	if target == nil || target.id == "" {
		return
	}
	h.m.mu.Lock()
	tws, _ := o.pickPW(target, false)
	start := h.tick()
	var vals []*h118Val
	for _, tw := range tws {
		for i, w := range tw.Writes {
			idx, _ := saverkit.WriteIndex(w.Channel, i)
			mp := target.pw[fmt.Sprintf("%s/%d", tw.TaskID, idx)]
			v := mp.vals[len(mp.vals)-1]
			v.start, v.async = start, async
			vals = append(vals, v)
		}
	}
	h.m.mu.Unlock()
	tw := tws[0]
	err := h.call("PutWrites", func(ctx context.Context) error {
		return h.store().PutWrites(o.ctx(ctx, wo), ckpt.Config{ThreadID: th.name, CheckpointNS: ns, CheckpointID: target.id}, tw.Writes, tw.TaskID, tw.TaskPath)
	})
	h.m.mu.Lock()
	ack := h.tick()
	for _, v := range vals {
		v.ack = ack
		if err != nil {
			v.status = h118Failed
		} else if v.status == h118Inflight {
			v.status = h118Acked
		}
	}
	req := h.m.required(target, start, ack, true)
	h.m.mu.Unlock()
	if errors.Is(err, ckpt.ErrNotFound) {
		if req {
			h.find("PutWrites on %q ns %q checkpoint %s (acknowledged, never deleted, GC-safe): not found: %v", th.name, ns, target.id, err)
		}
		return
	}
	o.stopped = h.unexpected("PutWrites", err)
}

func (o *h118Owner) save(th *h118Thread, kind string) {
	h := o.h
	key := h118HeadKey(th, "")
	head := o.heads[key]
	parent := head
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	var expect []error
	var wantErr error
	switch kind {
	case "fork":
		safeOnly := async || o.r.IntN(2) == 0
		parent = o.pickEntry(th, "", safeOnly)
		if parent == nil {
			return
		}
		wo.Parent = parent.id
		if !safeOnly {
			expect = append(expect, ckpt.ErrNotFound)
		}
	case "ifhead":
		if head == nil {
			return
		}
		wo.Parent, wo.IfHead = head.id, true
	case "stale":
		if async {
			return
		}
		parent = o.pickEntry(th, "", false)
		if parent == nil || parent == head {
			return
		}
		wo.Parent, wo.IfHead = parent.id, true
		wantErr = ckpt.ErrConflict
	}
	e := o.newEntry(th, "")
	e.async = async
	e.state, _, _ = o.nextState(parent, e.op, false)
	if parent != nil {
		e.parent = parent.id
	}
	o.register(e, th)
	var id string
	err := h.call("Save", func(ctx context.Context) error {
		var err error
		id, err = h.store().Save(o.ctx(ctx, wo), th.name, e.state, o.meta(e))
		return err
	})
	if err == nil {
		h.m.mu.Lock()
		e.id = id
		h.m.mu.Unlock()
	}
	o.settle(e, err)
	h.note(th, "save %s %s %s parent %s: %v", kind, e.op, e.id, e.parent, err)
	if wantErr != nil {
		if err == nil {
			h.find("Save %s on %q: nil, want %v", kind, th.name, wantErr)
			o.heads[key] = e
		} else if !errors.Is(err, wantErr) {
			o.stopped = h.unexpected("Save "+kind, err, ckpt.ErrNotFound)
		}
		return
	}
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			o.resync(th)
			return
		}
		o.stopped = h.unexpected("Save "+kind, err, expect...)
		return
	}
	o.heads[key] = e
}

// markDeleted marks the entries sel picks as being deleted (from now) and
// returns them.
func (o *h118Owner) markDeleted(sel func(e *h118Entry) bool) []*h118Entry {
	m := o.h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := o.h.tick()
	var out []*h118Entry
	for _, th := range m.threads {
		for _, e := range th.entries {
			if e.status != h118Failed && e.delAck == 0 && sel(e) {
				if e.delStart == 0 {
					e.delStart = now
				}
				out = append(out, e)
			}
		}
	}
	return out
}

func (o *h118Owner) deleted(es []*h118Entry, err error) {
	if err != nil || o.h.mode.async {
		// An Async delete is only queued: a read may still show them.
		return
	}
	m := o.h.m
	m.mu.Lock()
	now := o.h.tick()
	for _, e := range es {
		e.delAck = now
	}
	m.mu.Unlock()
}

func (o *h118Owner) deleteThread(th *h118Thread) {
	h := o.h
	es := o.markDeleted(func(e *h118Entry) bool { return e.th == th })
	var err error
	if o.r.IntN(2) == 0 {
		err = h.call("DeleteThread", func(ctx context.Context) error { return h.store().DeleteThread(ctx, th.name) })
	} else {
		err = h.call("Prune", func(ctx context.Context) error {
			return h.store().Prune(ctx, []string{th.name, "no-such-thread"}, ckpt.PruneDelete)
		})
	}
	o.deleted(es, err)
	h.note(th, "delete thread: %d entries, err %v", len(es), err)
	if err == nil {
		delete(o.heads, h118HeadKey(th, ""))
		delete(o.heads, h118HeadKey(th, "sub"))
		return
	}
	if o.stopped = h.unexpected("DeleteThread", err); !o.stopped {
		o.resync(th)
	}
}

func (o *h118Owner) pruneLatest(th *h118Thread) {
	h := o.h
	h.m.mu.Lock()
	newest := map[string]*h118Entry{}
	for _, e := range th.entries {
		if e.status != h118Failed && e.delAck == 0 && e.id != "" && (newest[e.ns] == nil || e.id > newest[e.ns].id) {
			newest[e.ns] = e
		}
	}
	h.m.mu.Unlock()
	es := o.markDeleted(func(e *h118Entry) bool { return e.th == th && newest[e.ns] != e })
	err := h.call("Prune", func(ctx context.Context) error {
		return h.store().Prune(ctx, []string{th.name}, ckpt.PruneKeepLatest)
	})
	o.deleted(es, err)
	var kept []string
	for ns, e := range newest {
		kept = append(kept, ns+"/"+e.id)
	}
	h.note(th, "prune keep latest %v: %d entries, err %v", kept, len(es), err)
	if err != nil {
		if o.stopped = h.unexpected("Prune", err); !o.stopped {
			o.resync(th)
		}
	}
}

func (o *h118Owner) deleteRuns() {
	h := o.h
	if len(o.runs) == 0 {
		return
	}
	run := o.runs[o.r.IntN(len(o.runs))]
	es := o.markDeleted(func(e *h118Entry) bool { return e.run == run })
	err := h.call("DeleteForRuns", func(ctx context.Context) error {
		return h.store().DeleteForRuns(ctx, []string{run, "no-such-run"})
	})
	o.deleted(es, err)
	for _, th := range append(slices.Clone(o.savers), o.simple, o.copy) {
		var ids []string
		for _, e := range es {
			if e.th == th {
				ids = append(ids, e.ns+"/"+e.id)
			}
		}
		h.note(th, "delete run %s %v, err %v", run, ids, err)
	}
	if o.stopped = h.unexpected("DeleteForRuns", err); o.stopped {
		return
	}
	for _, th := range append(slices.Clone(o.savers), o.simple) {
		o.resync(th)
		if o.stopped {
			return
		}
	}
}

func (o *h118Owner) copyThread() {
	h := o.h
	srcs := append(slices.Clone(o.savers), o.simple)
	src := srcs[o.r.IntN(len(srcs))]
	dst := o.copy
	replace := o.r.IntN(2) == 0
	m := h.m
	m.mu.Lock()
	start := h.tick()
	dstLive := false
	for _, e := range dst.entries {
		if e.status != h118Failed && e.delAck == 0 {
			dstLive = true
		}
	}
	srcReq := false
	var copies []*h118Entry
	for _, e := range src.entries {
		if e.status == h118Failed || e.delAck != 0 {
			continue
		}
		if m.required(e, start, start, true) {
			srcReq = true
		}
		c := &h118Entry{ns: e.ns, op: e.op, id: e.id, parent: e.parent, owner: e.owner, run: e.run, step: e.step,
			state: e.state, versions: e.versions, old: e.old, async: false, start: start, copyOf: e, copyStart: start,
			pw: map[string]*h118PW{}, fullKeys: e.fullKeys}
		for k, p := range e.pw {
			np := &h118PW{special: p.special, path: p.path}
			for _, v := range p.vals {
				nv := *v
				nv.async = false
				np.vals = append(np.vals, &nv)
			}
			c.pw[k] = np
		}
		copies = append(copies, c)
	}
	var olds []*h118Entry
	if replace {
		for _, e := range dst.entries {
			if e.status != h118Failed && e.delAck == 0 {
				if e.delStart == 0 {
					e.delStart = start
				}
				olds = append(olds, e)
			}
		}
	}
	for _, c := range copies {
		c.status = h118Inflight
		dst.add(c)
	}
	m.mu.Unlock()
	// Sync also on an Async store: its ErrExists and ErrNotFound would
	// come back only from a later Flush, for no call in particular.
	err := h.call("CopyThread", func(ctx context.Context) error {
		return h.store().CopyThread(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: ckpt.Sync}), src.name, dst.name, ckpt.CopyOptions{Replace: replace})
	})
	m.mu.Lock()
	end := h.tick()
	for _, c := range copies {
		c.copyEnd = end
		c.ack = end
		if err == nil {
			c.status = h118Acked
			for _, p := range c.pw {
				for _, v := range p.vals {
					if v.status == h118Acked {
						v.ack = end
					}
				}
			}
		} else {
			c.status = h118Failed
			if c.observedInFlight {
				h.find("CopyThread %s -> %s failed (%v) after a read showed its copy %s", src.name, dst.name, err, c.id)
			}
		}
	}
	if err == nil && !h.mode.async {
		for _, e := range olds {
			e.delAck = end
		}
	}
	m.mu.Unlock()
	h.note(src, "copy to %s replace %v: %d entries, err %v", dst.name, replace, len(copies), err)
	h.note(dst, "copy from %s replace %v: %d entries, err %v", src.name, replace, len(copies), err)
	switch {
	case err == nil:
	case errors.Is(err, ckpt.ErrExists):
		if replace || !dstLive {
			h.find("CopyThread %s -> %s (replace %v, destination live %v): %v", src.name, dst.name, replace, dstLive, err)
		}
	case errors.Is(err, ckpt.ErrNotFound):
		if srcReq {
			h.find("CopyThread %s -> %s: source holds acknowledged checkpoints, but %v", src.name, dst.name, err)
		}
	default:
		o.stopped = h.unexpected("CopyThread", err)
	}
}

// reads of the owner's own threads: the head it wrote must be the newest.
func (o *h118Owner) readOwn(th *h118Thread, ns string) {
	h := o.h
	if h.mode.async {
		return
	}
	head := o.heads[h118HeadKey(th, ns)]
	if head == nil || head.async || th.kind == "old" {
		return
	}
	r0 := h.tick()
	var tup *ckpt.Tuple
	err := h.call("Reader.GetTuple", func(ctx context.Context) error {
		var err error
		tup, err = o.reader.GetTuple(ctx, ckpt.Config{ThreadID: th.name, CheckpointNS: ns})
		return err
	})
	r1 := h.tick()
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			h.find("own head of %q ns %q (%s) not found", th.name, ns, head.id)
			return
		}
		o.stopped = h.unexpected("Reader.GetTuple", err)
		return
	}
	h.m.mu.Lock()
	e, cerr := h.m.check(h118FromTuple(tup), r0, r1, false)
	h.m.mu.Unlock()
	if cerr != nil {
		h.find("own head: %v", cerr)
		return
	}
	if e != head && tup.Config.CheckpointID < head.id {
		h.find("own head of %q ns %q: read %s, but wrote %s (acknowledged)", th.name, ns, tup.Config.CheckpointID, head.id)
	}
}

func (o *h118Owner) loop() {
	h := o.h
	for !h.stop.Load() && !o.stopped {
		th := o.savers[o.r.IntN(len(o.savers))]
		ns := []string{"", "sub"}[o.r.IntN(2)]
		switch x := o.r.IntN(100); {
		case x < 28:
			o.put(th, ns, "plain")
		case x < 40:
			o.put(th, ns, "full")
		case x < 44:
			o.put(th, ns, "fork")
		case x < 47:
			o.put(th, ns, "ifhead")
		case x < 48:
			o.put(th, ns, "stale")
		case x < 49:
			o.put(th, ns, "reuse")
		case x < 50:
			o.put(th, ns, "reuse-same")
		case x < 60:
			o.putWrites(th, ns)
		case x < 70:
			o.save(o.simple, "plain")
		case x < 73:
			o.save(o.simple, "fork")
		case x < 75:
			o.save(o.simple, "ifhead")
		case x < 76:
			o.save(o.simple, "stale")
		case x < 80:
			o.putWrites(o.simple, "")
		case x < 81:
			o.deleteThread([]*h118Thread{th, o.simple, o.copy}[o.r.IntN(3)])
		case x < 82:
			o.pruneLatest([]*h118Thread{th, o.simple, o.copy}[o.r.IntN(3)])
		case x < 83:
			o.deleteRuns()
		case x < 86:
			o.copyThread()
		default:
			o.readOwn(th, ns)
		}
	}
}

// ---- readers ----

func (h *h118Run) threadNames() []string {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	var ns []string
	for n := range h.m.threads {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func (h *h118Run) checkShown(what string, sh *h118Shown, r0, r1 int64) *h118Entry {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	e, err := h.m.check(sh, r0, r1, false)
	if err != nil {
		h.find("%s: %v", what, err)
	}
	return e
}

// missing reports the entries of th (in ns, or any if ns is nil) that a
// read [r0, r1] had to show and did not; sel narrows them.
func (h *h118Run) missing(what string, th *h118Thread, ns *string, shown map[string]bool, r0, r1 int64, sel func(e *h118Entry) bool) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	n := 0
	for _, e := range th.entries {
		if (ns != nil && e.ns != *ns) || (sel != nil && !sel(e)) {
			continue
		}
		if !shown[e.ns+"/"+e.id] && h.m.required(e, r0, r1, false) {
			if n++; n <= 3 {
				h.find("%s of %q: acknowledged checkpoint ns %q %s (op %s, acked %d, read %d..%d) missing%s", what, th.name, e.ns, e.id, e.op, e.ack, r0, r1, h.m.dump(th))
			}
		}
	}
}

func (h *h118Run) readerLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	rd := h.store().NewReader()
	names := h.threadNames()
	for !h.stop.Load() {
		name := names[r.IntN(len(names))]
		h.m.mu.Lock()
		th := h.m.threads[name]
		var pick *h118Entry
		if n := len(th.entries); n > 0 {
			pick = th.entries[r.IntN(n)]
			if pick.id == "" {
				pick = nil
			} else {
				// A copy: its owner sets fields under the lock.
				pk := *pick
				pick = &pk
			}
		}
		h.m.mu.Unlock()
		ns := []string{"", "sub"}[r.IntN(2)]
		if th.kind == "simple" {
			ns = ""
		}
		r0 := h.tick()
		var stop bool
		switch x := r.IntN(100); {
		case x < 20: // the newest
			var tup *ckpt.Tuple
			useReader := r.IntN(2) == 0
			err := h.call("GetTuple", func(ctx context.Context) error {
				var err error
				if useReader {
					tup, err = rd.GetTuple(ctx, ckpt.Config{ThreadID: name, CheckpointNS: ns})
				} else {
					tup, err = h.store().GetTuple(ctx, ckpt.Config{ThreadID: name, CheckpointNS: ns})
				}
				return err
			})
			r1 := h.tick()
			shownID := ""
			if err == nil {
				h.checkShown("GetTuple newest", h118FromTuple(tup), r0, r1)
				shownID = tup.Config.CheckpointID
			} else if !errors.Is(err, ckpt.ErrNotFound) {
				stop = h.unexpected("GetTuple newest", err)
				break
			}
			h.missing("GetTuple newest", th, &ns, map[string]bool{}, r0, r1, func(e *h118Entry) bool { return e.id > shownID })
		case x < 40: // by id
			if pick == nil {
				continue
			}
			var tup *ckpt.Tuple
			useReader := r.IntN(2) == 0
			cfg := ckpt.Config{ThreadID: name, CheckpointNS: pick.ns, CheckpointID: pick.id}
			err := h.call("GetTuple", func(ctx context.Context) error {
				var err error
				if useReader {
					tup, err = rd.GetTuple(ctx, cfg)
				} else {
					tup, err = h.store().GetTuple(ctx, cfg)
				}
				return err
			})
			r1 := h.tick()
			if err == nil {
				if e := h.checkShown("GetTuple by id", h118FromTuple(tup), r0, r1); e != nil && e.op != pick.op {
					h.find("GetTuple %v: op %s, want %s", cfg, e.op, pick.op)
				}
			} else if errors.Is(err, ckpt.ErrNotFound) {
				h.missing("GetTuple by id", th, &pick.ns, map[string]bool{}, r0, r1, func(e *h118Entry) bool { return e.op == pick.op && e.ns == pick.ns && e.id == pick.id })
			} else {
				stop = h.unexpected("GetTuple by id", err)
			}
		case x < 60: // List of a thread
			opts := ckpt.ListOptions{ThreadID: name}
			if r.IntN(2) == 0 {
				opts.Namespace = ckpt.NS(ns)
			}
			if r.IntN(3) == 0 {
				opts.Limit = 1 + r.IntN(6)
			}
			if pick != nil && r.IntN(4) == 0 {
				opts.Before = pick.id
			}
			var run string
			if pick != nil && r.IntN(4) == 0 {
				run = pick.run
				opts.Filter = map[string]any{"run_id": run}
			}
			var tups []*ckpt.Tuple
			err := h.call("List", func(ctx context.Context) error {
				for tup, err := range h.store().List(ctx, opts) {
					if err != nil {
						return err
					}
					tups = append(tups, tup)
				}
				return nil
			})
			r1 := h.tick()
			if err != nil {
				stop = h.unexpected("List", err)
				break
			}
			shown := map[string]bool{}
			last := ""
			for i, tup := range tups {
				id := tup.Config.CheckpointID
				if i > 0 && id >= last && !(id == last && false) {
					if id == last {
						h.find("List %+v: %s twice", opts, id)
					} else {
						h.find("List %+v: %s after %s (not newest first)", opts, id, last)
					}
				}
				last = id
				if tup.Config.ThreadID != name || (opts.Namespace != nil && tup.Config.CheckpointNS != ns) || (opts.Before != "" && id >= opts.Before) {
					h.find("List %+v gave %v", opts, tup.Config)
				}
				if run != "" && fmt.Sprint(tup.Metadata["run_id"]) != run {
					h.find("List %+v gave run %v", opts, tup.Metadata["run_id"])
				}
				h.checkShown("List", h118FromTuple(tup), r0, r1)
				shown[tup.Config.CheckpointNS+"/"+id] = true
			}
			if opts.Limit > 0 && len(tups) > opts.Limit {
				h.find("List %+v: %d tuples, limit %d", opts, len(tups), opts.Limit)
			}
			full := opts.Limit == 0 || len(tups) < opts.Limit
			var nsp *string
			if opts.Namespace != nil {
				nsp = &ns
			}
			h.missing("List", th, nsp, shown, r0, r1, func(e *h118Entry) bool {
				return (opts.Before == "" || e.id < opts.Before) && (run == "" || e.run == run) && (full || e.id > last)
			})
		case x < 66: // List of all threads, filtered
			owner := fmt.Sprintf("w%d", r.IntN(h.owners))
			opts := ckpt.ListOptions{Filter: map[string]any{"owner": owner}, Limit: 1 + r.IntN(30)}
			if r.IntN(3) == 0 {
				opts.Namespace = ckpt.NS("sub")
			}
			n := 0
			err := h.call("List all", func(ctx context.Context) error {
				for tup, err := range h.store().List(ctx, opts) {
					if err != nil {
						return err
					}
					n++
					if fmt.Sprint(tup.Metadata["owner"]) != owner || (opts.Namespace != nil && tup.Config.CheckpointNS != "sub") {
						h.find("List all %+v gave %v %v", opts, tup.Config, tup.Metadata)
					}
					h.checkShown("List all", h118FromTuple(tup), r0, r0)
				}
				return nil
			})
			if n > opts.Limit {
				h.find("List all: %d > limit %d", n, opts.Limit)
			}
			stop = h.unexpected("List all", err)
		case x < 80: // the simple API
			if th.kind == "old" {
				continue
			}
			var snaps []*ckpt.Snapshot
			var kind string
			err := h.call("History", func(ctx context.Context) error {
				s := h.store()
				switch r.IntN(5) {
				case 0:
					kind = "Latest"
					sn, err := s.Latest(ctx, name)
					if err == nil {
						snaps = append(snaps, sn)
					}
					return err
				case 1:
					if pick == nil || pick.ns != "" {
						return nil
					}
					kind = "Load"
					sn, err := s.Load(ctx, name, pick.id)
					if err == nil {
						snaps = append(snaps, sn)
					}
					return err
				case 2:
					kind = "Branches"
					var err error
					snaps, err = s.Branches(ctx, name)
					return err
				case 3:
					if pick == nil || pick.ns != "" {
						return nil
					}
					kind = "HistoryFrom"
					for sn, err := range s.HistoryFrom(ctx, name, pick.id, ckpt.ListOptions{Limit: 10}) {
						if err != nil {
							return err
						}
						snaps = append(snaps, sn)
					}
					return nil
				}
				kind = "History"
				for sn, err := range s.History(ctx, name, ckpt.ListOptions{}) {
					if err != nil {
						return err
					}
					snaps = append(snaps, sn)
				}
				return nil
			})
			r1 := h.tick()
			if err != nil && !errors.Is(err, ckpt.ErrNotFound) {
				stop = h.unexpected(kind, err)
				break
			}
			for i, sn := range snaps {
				h.checkShown(kind, h118FromSnap(name, sn), r0, r1)
				if (kind == "History" || kind == "HistoryFrom") && i > 0 && snaps[i-1].ParentID != sn.CheckpointID {
					h.find("%s of %q: %s follows %s whose parent is %s", kind, name, sn.CheckpointID, snaps[i-1].CheckpointID, snaps[i-1].ParentID)
				}
			}
		case x < 85:
			err := h.call("Threads", func(ctx context.Context) error {
				for ti, err := range h.store().Threads(ctx) {
					if err != nil {
						return err
					}
					h.m.mu.Lock()
					known := h.m.threads[ti.ThreadID] != nil
					h.m.mu.Unlock()
					if !known {
						h.find("Threads: unknown thread %q", ti.ThreadID)
					}
				}
				return nil
			})
			stop = h.unexpected("Threads", err)
		case x < 90:
			err := h.call("Thread", func(ctx context.Context) error {
				_, err := h.store().Thread(ctx, name)
				return err
			})
			stop = h.unexpected("Thread", err, ckpt.ErrNotFound)
		case x < 94:
			if pick == nil {
				continue
			}
			var got string
			err := h.call("ResolveID", func(ctx context.Context) error {
				var err error
				got, err = h.store().ResolveID(ctx, name, pick.ns, pick.id[:20])
				return err
			})
			if err == nil && !strings.HasPrefix(got, pick.id[:20]) {
				h.find("ResolveID %q %s: %s", name, pick.id[:20], got)
			}
			stop = h.unexpected("ResolveID", err, ckpt.ErrNotFound, ckpt.ErrInvalidConfig)
		default:
			err := h.call("Stats", func(ctx context.Context) error {
				_, err := h.store().Stats(ctx)
				_ = h.store().Metrics()
				return err
			})
			stop = h.unexpected("Stats", err)
		}
		if stop {
			return
		}
		time.Sleep(200 * time.Microsecond) // leave the writers some CPU
	}
}

// ---- maintenance ----

func (h *h118Run) noteFlushErr(err error) {
	if err != nil && !errors.Is(err, ckpt.ErrClosed) {
		h.asyncMu.Lock()
		h.asyncErr = append(h.asyncErr, err)
		h.asyncMu.Unlock()
	}
}

func (h *h118Run) sleep(r *rand.Rand, max time.Duration) bool {
	d := time.Duration(r.Int64N(int64(max)))
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if h.stop.Load() {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return !h.stop.Load()
}

func (h *h118Run) flushLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 8))
	for h.sleep(r, 150*time.Millisecond) {
		start := h.tick()
		var err error
		if r.IntN(4) == 0 {
			err = h.call("ApplyLog", func(ctx context.Context) error { return h.store().ApplyLog(ctx) })
		} else {
			err = h.call("Flush", func(ctx context.Context) error { return h.store().Flush(ctx) })
			h.noteFlushErr(err)
			if err == nil {
				h.m.mu.Lock()
				h.m.flushes = append(h.m.flushes, h118Flush{start, h.tick()})
				h.m.mu.Unlock()
			}
		}
		if h.unexpected("Flush/ApplyLog", err) {
			return
		}
	}
}

func (h *h118Run) gcLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 9))
	for h.sleep(r, 250*time.Millisecond) {
		p := ckpt.Policy{KeepLast: h.m.keepLast, MaxAge: 30 * 24 * time.Hour, ThreadTTL: 60 * 24 * time.Hour}
		if r.IntN(5) == 0 {
			p.DryRun = true
			p.KeepLast = 1
		}
		if r.IntN(4) == 0 {
			p.Progress = func(ckpt.GCStats) {}
		}
		start := h.clk.Load()
		var st ckpt.GCStats
		err := h.call("GC", func(ctx context.Context) error {
			var err error
			st, err = h.store().GC(ctx, p)
			return err
		})
		h.m.mu.Lock()
		h.m.glog = append(h.m.glog, fmt.Sprintf("GC %d..%d keepLast %d dry %v: %+v %v", start, h.clk.Load(), p.KeepLast, p.DryRun, st, err))
		h.m.mu.Unlock()
		if h.unexpected("GC", err) {
			return
		}
	}
}

func (h *h118Run) compactLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 10))
	for h.sleep(r, 800*time.Millisecond) {
		start := h.clk.Load()
		err := h.call("Compact", func(ctx context.Context) error {
			_, err := h.store().Compact(ctx, nil)
			return err
		})
		h.m.mu.Lock()
		h.m.glog = append(h.m.glog, fmt.Sprintf("Compact %d..%d: %v", start, h.clk.Load(), err))
		h.m.mu.Unlock()
		if h.unexpected("Compact", err) {
			return
		}
	}
}

func (h *h118Run) verifyLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	for h.sleep(r, 600*time.Millisecond) {
		var rep *ckpt.VerifyReport
		err := h.call("Verify", func(ctx context.Context) error {
			var err error
			rep, err = h.store().Verify(ctx, ckpt.VerifyOptions{PagesOnly: r.IntN(4) == 0})
			return err
		})
		if h.unexpected("Verify", err) {
			return
		}
		if err == nil && !rep.OK() {
			h.find("Verify of the live store: %d problems: %v", len(rep.Problems), rep.Problems[:min(5, len(rep.Problems))])
		}
	}
}

func (h *h118Run) rekeyLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 12))
	for h.sleep(r, 700*time.Millisecond) {
		err := h.call("Rekey", func(ctx context.Context) error {
			_, err := h.store().Rekey(ctx)
			return err
		})
		if h.unexpected("Rekey", err) {
			return
		}
	}
}

// openCopy opens a copy (backup or import) with the run's keys.
func (h *h118Run) copyOpts() ckpt.Options {
	return ckpt.Options{Encryption: h.opts.Encryption}
}

func (h *h118Run) backupLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 13))
	n := 0
	for h.sleep(r, 900*time.Millisecond) {
		n++
		dst := filepath.Join(h.dir, fmt.Sprintf("backup-%d.db", n))
		start := h.tick()
		toWriter := r.IntN(3) == 0
		err := h.call("Backup", func(ctx context.Context) error {
			if toWriter {
				f, err := os.Create(dst)
				if err != nil {
					return err
				}
				err = h.store().Backup(ctx, f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}
			return h.store().BackupFile(ctx, dst, ckpt.BackupProgress(func(int64, int64) {}))
		})
		end := h.tick()
		if h.unexpected("Backup", err) {
			return
		}
		if err != nil {
			continue
		}
		h.checkCopy("backup", dst, start, end, true)
		os.Remove(dst)
	}
}

func (h *h118Run) exportLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 14))
	n := 0
	for h.sleep(r, 900*time.Millisecond) {
		n++
		var buf bytes.Buffer
		start := h.tick()
		var opts ckpt.ExportOptions
		if r.IntN(3) == 0 {
			names := h.threadNames()
			opts.Threads = []string{names[r.IntN(len(names))], names[r.IntN(len(names))]}
		}
		err := h.call("Export", func(ctx context.Context) error {
			_, err := h.store().Export(ctx, &buf, opts)
			return err
		})
		end := h.tick()
		if errors.Is(err, ckpt.ErrNotFound) && opts.Threads != nil {
			continue
		}
		if h.unexpected("Export", err) {
			return
		}
		if err != nil {
			continue
		}
		dst := filepath.Join(h.dir, fmt.Sprintf("export-%d.db", n))
		ierr := h.call("ImportFile", func(ctx context.Context) error {
			_, err := ckpt.ImportFile(ctx, dst, bytes.NewReader(buf.Bytes()), h.copyOpts(), ckpt.ImportOptions{})
			return err
		})
		if ierr != nil {
			h.find("ImportFile of an export: %v", ierr)
			continue
		}
		if opts.Threads == nil {
			h.checkCopy("export", dst, start, end, false)
		} else {
			h.checkCopyThreads("export", dst, start, end, opts.Threads)
		}
		os.Remove(dst)
	}
}

// checkCopy opens a backup (queued: Async writes count once queued; the
// prefix is by owner) or an import of an export (the prefix is by
// thread) and checks it against the model.
func (h *h118Run) checkCopy(what, path string, start, end int64, backup bool) {
	h.checkCopyThreads(what, path, start, end, nil)
	_ = backup
}

func (h *h118Run) checkCopyThreads(what, path string, start, end int64, only []string) {
	backup := what == "backup"
	var tups []*ckpt.Tuple
	err := h.call("open "+what, func(ctx context.Context) error {
		s, err := ckpt.Open(path, h.copyOpts())
		if err != nil {
			return err
		}
		defer s.Close()
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err != nil {
			return fmt.Errorf("Verify: %w", err)
		}
		if !rep.OK() {
			return fmt.Errorf("Verify: %v", rep.Problems[:min(5, len(rep.Problems))])
		}
		for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				return err
			}
			tups = append(tups, tup)
		}
		return nil
	})
	if err != nil {
		h.find("%s %s: %v", what, path, err)
		return
	}
	m := h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	group := func(e *h118Entry) string {
		if backup {
			return e.owner
		}
		return e.th.name
	}
	// The prefix: the latest call of each group the copy shows.
	cut := map[string]int64{}
	shown := map[*h118Thread]map[string]bool{}
	var matched []*h118Entry
	for _, tup := range tups {
		e, err := m.check(h118FromTuple(tup), start, end, backup)
		if err != nil {
			h.find("%s: %v", what, err)
			continue
		}
		matched = append(matched, e)
		if shown[e.th] == nil {
			shown[e.th] = map[string]bool{}
		}
		shown[e.th][tup.Config.CheckpointNS+"/"+tup.Config.CheckpointID] = true
		g := group(e)
		if e.start > cut[g] {
			cut[g] = e.start
		}
		for _, p := range tup.PendingWrites {
			k := fmt.Sprintf("%s/%d", p.TaskID, p.Idx)
			if mp := e.pw[k]; mp != nil {
				for _, v := range mp.vals {
					if v.start > cut[g] && v.status == h118Acked && v.val == p.Channel+"="+h118MustDecode(p.Value) {
						cut[g] = v.start
					}
				}
			}
		}
	}
	for _, th := range m.threads {
		if only != nil && !slices.Contains(only, th.name) {
			continue
		}
		n := 0
		for _, e := range th.entries {
			r0 := max(start, cut[group(e)])
			if shown[th][e.ns+"/"+e.id] {
				// Shown: nothing deleted before the cut may be (unless
				// a later copy brought it back).
				if e.delAck != 0 && e.delAck < r0 {
					again := false
					for _, o := range th.byOp[e.op] {
						if o.ns == e.ns && o.id == e.id && m.legal(o, r0) {
							again = true
						}
					}
					if !again {
						h.find("%s: %q ns %q %s (op %s) deleted at %d, before the copy's cut %d, is in it", what, th.name, e.ns, e.id, e.op, e.delAck, r0)
					}
				}
				continue
			}
			if m.required(e, r0, end, backup) {
				if n++; n <= 3 {
					h.find("%s (%d..%d, cut %d): %q ns %q %s (op %s, acked %d) missing", what, start, end, r0, th.name, e.ns, e.id, e.op, e.ack)
				}
			}
		}
	}
	_ = matched
}

func h118MustDecode(r ckpt.Raw) string {
	var s string
	_ = ckptDecodeRaw(r, &s)
	return s
}

// importer: threads of a dump brought in, deleted, brought in again.
func (h *h118Run) importLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 15))
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range h.tmpl.threads {
			if !yield(n) {
				return
			}
		}
	})
	live := map[string]bool{}
	for n := range h.m.threads {
		if strings.HasPrefix(n, "imp-") {
			h.m.mu.Lock()
			for _, e := range h.m.threads[n].entries {
				if e.status == h118Acked && e.delAck == 0 {
					live[n] = true
				}
			}
			h.m.mu.Unlock()
		}
	}
	for h.sleep(r, 400*time.Millisecond) {
		name := names[r.IntN(len(names))]
		all := r.IntN(4) == 0
		if live[name] && !all {
			th := h.m.threads[name]
			h.m.mu.Lock()
			now := h.tick()
			var es []*h118Entry
			for _, e := range th.entries {
				if e.status != h118Failed && e.delAck == 0 {
					if e.delStart == 0 {
						e.delStart = now
					}
					es = append(es, e)
				}
			}
			h.m.mu.Unlock()
			err := h.call("DeleteThread", func(ctx context.Context) error { return h.store().DeleteThread(ctx, name) })
			h.note(th, "importer: delete: %v", err)
			if err == nil && !h.mode.async {
				h.m.mu.Lock()
				now := h.tick()
				for _, e := range es {
					e.delAck = now
				}
				h.m.mu.Unlock()
			}
			if err == nil {
				live[name] = false
			}
			if h.unexpected("DeleteThread imported", err) {
				return
			}
			continue
		}
		dumpKey := name
		targets := []string{name}
		if all {
			dumpKey = "all"
			targets = names
		}
		anyLive := false
		for _, n := range targets {
			anyLive = anyLive || live[n]
		}
		h.m.mu.Lock()
		start := h.tick()
		var copies []*h118Entry
		for _, n := range targets {
			th := h.m.thread(n, "imp", "imp")
			for _, te := range h.tmpl.threads[n].entries {
				c := &h118Entry{ns: te.ns, op: te.op, id: te.id, parent: te.parent, owner: "imp", run: te.run, step: te.step,
					state: te.state, versions: te.versions, start: start, copyOf: te, copyStart: 1, copyEnd: 1,
					pw: te.pw, fullKeys: te.fullKeys}
				th.add(c)
				copies = append(copies, c)
			}
		}
		h.m.mu.Unlock()
		err := h.call("Import", func(ctx context.Context) error {
			_, err := h.store().Import(ctx, bytes.NewReader(h.dumps[dumpKey]), ckpt.ImportOptions{})
			return err
		})
		for _, n := range targets {
			h.note(h.m.threads[n], "importer: import %s (%d..%d): %v", dumpKey, start, h.clk.Load(), err)
		}
		h.m.mu.Lock()
		end := h.tick()
		for _, c := range copies {
			c.ack = end
			if err == nil {
				c.status = h118Acked
			} else {
				c.status = h118Failed
				if c.observedInFlight {
					h.find("Import of %s failed (%v) after a read showed %q %s", dumpKey, err, c.th.name, c.id)
				}
			}
		}
		h.m.mu.Unlock()
		if err == nil {
			if anyLive {
				h.find("Import of %s returned nil though a thread of it was in the store", dumpKey)
			}
			for _, n := range targets {
				live[n] = true
			}
			continue
		}
		if errors.Is(err, ckpt.ErrExists) && anyLive {
			continue
		}
		if h.unexpected("Import", err) {
			return
		}
	}
}

// ---- setup ----

// h118Template writes the threads the importer brings in, into a store of
// their own, and returns their model and dumps.
func h118Template(t *testing.T, dir string, seed uint64) (*h118Model, map[string][]byte) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(dir, "template.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &h118Model{threads: map[string]*h118Thread{}}
	h := &h118Run{t: t, m: m, counts: map[string]int{}, errKinds: map[string]int{}, inflight: map[int64]h118Call{}, mode: h118Mode{name: "template"}, seed: seed}
	h.s.Store(s)
	o := &h118Owner{h: h, name: "imp", r: rand.New(rand.NewPCG(seed, 99)), heads: map[string]*h118Entry{}}
	var names []string
	for i := range 3 {
		th := m.thread(fmt.Sprintf("imp-%d", i), "imp", "saver")
		names = append(names, th.name)
		for range 8 {
			ns := []string{"", "sub"}[o.r.IntN(2)]
			o.put(th, ns, []string{"plain", "full"}[o.r.IntN(2)])
			o.putWrites(th, ns)
		}
	}
	if len(h.findings) > 0 {
		t.Fatalf("template: %v", h.findings)
	}
	for _, th := range m.threads {
		for _, e := range th.entries {
			e.ack, e.start = 0, 0
			for _, p := range e.pw {
				for _, v := range p.vals {
					v.ack, v.start = 0, 0
				}
			}
		}
	}
	// Some of its writes were Async: an export reads only what is logged.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dumps := map[string][]byte{}
	for _, n := range append(names, "all") {
		var buf bytes.Buffer
		opts := ckpt.ExportOptions{Threads: []string{n}}
		if n == "all" {
			opts.Threads = nil
		}
		if _, err := s.Export(ctx, &buf, opts); err != nil {
			t.Fatal(err)
		}
		dumps[n] = buf.Bytes()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return m, dumps
}

func h118Key(id uint32) ckpt.Key {
	k := ckpt.Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = byte(id*31 + uint32(i))
	}
	return k
}

func h118Modes() []h118Mode {
	all := []h118Mode{
		{name: "sync", opts: ckpt.Options{}},
		{name: "nosync", opts: ckpt.Options{Durability: ckpt.NoSync}},
		{name: "async", opts: ckpt.Options{Durability: ckpt.Async}, async: true},
		{name: "enc", opts: ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true},
		{name: "encasync", opts: ckpt.Options{Durability: ckpt.Async, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true, async: true},
		{name: "nowal", opts: ckpt.Options{NoWAL: true}},
		{name: "nowalasync", opts: ckpt.Options{NoWAL: true, Durability: ckpt.Async}, async: true},
		{name: "nowalenc", opts: ckpt.Options{NoWAL: true, Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true},
	}
	want := os.Getenv("CKPT_H118_MODES")
	if want == "" {
		want = "sync,nosync,async,enc"
	}
	var out []h118Mode
	for _, m := range all {
		if slices.Contains(strings.Split(want, ","), m.name) {
			out = append(out, m)
		}
	}
	return out
}

func h118EnvInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func TestH118ConcurrentModel(t *testing.T) {
	seed := uint64(h118EnvInt("CKPT_H118_SEED", 1180))
	rounds := h118EnvInt("CKPT_H118_ROUNDS", 1)
	dur := 2 * time.Second
	if v := os.Getenv("CKPT_H118_DUR"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			dur = d
		}
	}
	t.Logf("CKPT_H118_SEED=%d CKPT_H118_ROUNDS=%d CKPT_H118_DUR=%v", seed, rounds, dur)
	total := map[string]int{}
	for round := range rounds {
		for _, mode := range h118Modes() {
			rs := seed + uint64(round)
			h := h118Round(t, mode, rs, dur)
			for k, v := range h.counts {
				total[k] += v
			}
			if len(h.findings) > 0 {
				for _, f := range h.findings {
					t.Error(f)
				}
				t.Fatalf("round %d mode %s: %d findings; again with CKPT_H118_SEED=%d CKPT_H118_MODES=%s", round, mode.name, len(h.findings), rs, mode.name)
			}
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range total {
			if !yield(k) {
				return
			}
		}
	})
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%d ", k, total[k])
	}
	t.Logf("calls: %s", sb.String())
}

func h118Round(t *testing.T, mode h118Mode, seed uint64, dur time.Duration) *h118Run {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(seed, uint64(len(mode.name))))
	tmpl, dumps := h118Template(t, dir, seed)
	m := &h118Model{threads: map[string]*h118Thread{}, async: mode.async}
	if r.IntN(2) == 0 {
		m.keepLast = 6 + r.IntN(6)
	}
	h := &h118Run{t: t, m: m, dir: dir, path: filepath.Join(dir, "h118.db"), opts: mode.opts, mode: mode, seed: seed,
		counts: map[string]int{}, errKinds: map[string]int{}, inflight: map[int64]h118Call{}, tmpl: tmpl, dumps: dumps,
		oldBase: time.Now().Add(-400 * 24 * time.Hour), owners: 3}
	h.opts.OnAsyncError = func(err error) {
		h.asyncMu.Lock()
		h.asyncErr = append(h.asyncErr, err)
		h.asyncMu.Unlock()
	}
	if r.IntN(2) == 0 {
		// The background sweeper too, with the policy the model allows.
		h.opts.SweepInterval = time.Duration(20+r.IntN(100)) * time.Millisecond
		h.opts.SweepPolicy = ckpt.Policy{KeepLast: m.keepLast, MaxAge: 30 * 24 * time.Hour, ThreadTTL: 60 * 24 * time.Hour}
		h.opts.OnSweep = func(st ckpt.GCStats, err error) {
			h.countMu.Lock()
			h.counts["sweep"]++
			h.countMu.Unlock()
			if err != nil && !errors.Is(err, ckpt.ErrClosed) {
				h.find("background sweep: %v", err)
			}
		}
	}
	h.opts.MaxPending = []int{0, 8, 64}[r.IntN(3)]
	h.opts.DeltaFold = []int{0, 2, 3}[r.IntN(3)]
	ctx := context.Background()
	if mode.enc {
		// The first keys seal an imported thread; the run's add key 2 and
		// Rekey re-seals it.
		o := h.opts
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{h118Key(1)}}
		s, err := ckpt.Open(h.path, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, bytes.NewReader(dumps["imp-0"]), ckpt.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		th := m.thread("imp-0", "imp", "imp")
		for _, te := range tmpl.threads["imp-0"].entries {
			th.add(&h118Entry{ns: te.ns, op: te.op, id: te.id, parent: te.parent, owner: "imp", run: te.run, step: te.step,
				state: te.state, versions: te.versions, copyOf: te, copyStart: 1, copyEnd: 1, pw: te.pw, fullKeys: te.fullKeys,
				status: h118Acked})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ckpt.Open(h.path, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.s.Store(s)
	h.tick()
	var owners []*h118Owner
	for w := range h.owners {
		name := fmt.Sprintf("w%d", w)
		o := &h118Owner{h: h, name: name, r: rand.New(rand.NewPCG(seed, uint64(100+w))), heads: map[string]*h118Entry{}, reader: s.NewReader()}
		o.savers = []*h118Thread{m.thread(name+"-s0", name, "saver")}
		if w%2 == 0 {
			o.savers = append(o.savers, m.thread(name+"-old", name, "old"))
		} else {
			o.savers = append(o.savers, m.thread(name+"-s1", name, "saver"))
		}
		o.simple = m.thread(name+"-p", name, "simple")
		o.copy = m.thread(name+"-c", name, "copy")
		owners = append(owners, o)
	}
	for _, n := range []string{"imp-0", "imp-1", "imp-2"} {
		m.thread(n, "imp", "imp")
	}
	done := make(chan struct{})
	go h.watchdog(done)
	var wg sync.WaitGroup
	// CKPT_H118_ONLY=owners,readers,flush,gc,compact,verify,backup,export,import,rekey
	// runs only those (to narrow a finding down).
	only := os.Getenv("CKPT_H118_ONLY")
	on := func(name string) bool { return only == "" || slices.Contains(strings.Split(only, ","), name) }
	for _, o := range owners {
		if on("owners") {
			wg.Go(o.loop)
		}
	}
	for range 2 {
		rs := r.Uint64()
		if on("readers") {
			wg.Go(func() { h.readerLoop(rs) })
		}
	}
	for _, f := range []struct {
		name string
		loop func(uint64)
	}{{"flush", h.flushLoop}, {"gc", h.gcLoop}, {"compact", h.compactLoop}, {"verify", h.verifyLoop},
		{"backup", h.backupLoop}, {"export", h.exportLoop}, {"import", h.importLoop}} {
		rs := r.Uint64()
		if on(f.name) {
			wg.Go(func() { f.loop(rs) })
		}
	}
	if mode.enc {
		rs := r.Uint64()
		if on("rekey") {
			wg.Go(func() { h.rekeyLoop(rs) })
		}
	}
	// Close at a random moment in the last part of the run, with
	// everything in flight.
	closeAt := dur/2 + time.Duration(r.Int64N(int64(dur/2)))
	time.Sleep(closeAt)
	h.closed.Store(true)
	var closeErr error
	_ = h.call("Close", func(context.Context) error { closeErr = s.Close(); return nil })
	h.stop.Store(true)
	wg.Wait()
	if closeErr != nil {
		h.find("Close: %v", closeErr)
	}
	h.asyncMu.Lock()
	for _, e := range h.asyncErr {
		h.find("an Async write or Flush failed: %v", e)
	}
	h.asyncMu.Unlock()
	h.afterClose(s)
	// Everything: after a reopen, twice.
	m.mu.Lock()
	m.final = true
	m.mu.Unlock()
	for pass := range 2 {
		s, err := ckpt.Open(h.path, h.opts)
		if err != nil {
			h.find("reopen %d: %v", pass, err)
			break
		}
		h.s.Store(s)
		h.checkAll(fmt.Sprintf("reopen %d", pass))
		if err := s.Close(); err != nil {
			h.find("close after reopen %d: %v", pass, err)
		}
	}
	close(done)
	var sb strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h.errKinds {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&sb, "%s=%d ", k, h.errKinds[k])
	}
	nEntries := 0
	for _, th := range m.threads {
		nEntries += len(th.entries)
	}
	t.Logf("mode %s seed %d keepLast %d sweep %v maxPending %d deltaFold %d: %d calls, %d checkpoints tried; errors: %s",
		mode.name, seed, m.keepLast, h.opts.SweepInterval, h.opts.MaxPending, h.opts.DeltaFold, h.callN, nEntries, sb.String())
	return h
}

// afterClose: every call on a closed store returns ErrClosed, at once.
func (h *h118Run) afterClose(s *ckpt.Store) {
	cfg := ckpt.Config{ThreadID: "w0-s0"}
	calls := map[string]func(ctx context.Context) error{
		"Put": func(ctx context.Context) error {
			_, err := s.Put(ctx, cfg, ckpt.Checkpoint{}, nil, nil)
			return err
		},
		"PutWrites": func(ctx context.Context) error {
			return s.PutWrites(ctx, ckpt.Config{ThreadID: "w0-s0", CheckpointID: ulid.Make().String()}, []ckpt.Write{{Channel: "a", Value: 1}}, "t", "")
		},
		"Save": func(ctx context.Context) error {
			_, err := s.Save(ctx, "w0-p", map[string]any{"a": 1}, nil)
			return err
		},
		"GetTuple": func(ctx context.Context) error { _, err := s.GetTuple(ctx, cfg); return err },
		"Reader":   func(ctx context.Context) error { _, err := s.NewReader().GetTuple(ctx, cfg); return err },
		"List": func(ctx context.Context) error {
			for _, err := range s.List(ctx, ckpt.ListOptions{}) {
				return err
			}
			return errors.New("List yielded nothing")
		},
		"History": func(ctx context.Context) error {
			for _, err := range s.History(ctx, "w0-p", ckpt.ListOptions{}) {
				return err
			}
			return errors.New("History yielded nothing")
		},
		"Threads": func(ctx context.Context) error {
			for _, err := range s.Threads(ctx) {
				return err
			}
			return errors.New("Threads yielded nothing")
		},
		"Latest":        func(ctx context.Context) error { _, err := s.Latest(ctx, "w0-p"); return err },
		"Branches":      func(ctx context.Context) error { _, err := s.Branches(ctx, "w0-p"); return err },
		"DeleteThread":  func(ctx context.Context) error { return s.DeleteThread(ctx, "w0-s0") },
		"CopyThread":    func(ctx context.Context) error { return s.CopyThread(ctx, "w0-s0", "x", ckpt.CopyOptions{}) },
		"Prune":         func(ctx context.Context) error { return s.Prune(ctx, []string{"w0-s0"}, ckpt.PruneKeepLatest) },
		"DeleteForRuns": func(ctx context.Context) error { return s.DeleteForRuns(ctx, []string{"w0-r1"}) },
		"GC": func(ctx context.Context) error {
			_, err := s.GC(ctx, ckpt.Policy{KeepLast: 1})
			return err
		},
		"Compact": func(ctx context.Context) error { _, err := s.Compact(ctx, nil); return err },
		"BackupFile": func(ctx context.Context) error {
			return s.BackupFile(ctx, filepath.Join(h.dir, "after-close.db"))
		},
		"Backup": func(ctx context.Context) error { return s.Backup(ctx, io.Discard) },
		"Export": func(ctx context.Context) error {
			_, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{})
			return err
		},
		"Import": func(ctx context.Context) error {
			_, err := s.Import(ctx, bytes.NewReader(h.dumps["imp-1"]), ckpt.ImportOptions{})
			return err
		},
		"Verify": func(ctx context.Context) error { _, err := s.Verify(ctx, ckpt.VerifyOptions{}); return err },
		"Rekey":  func(ctx context.Context) error { _, err := s.Rekey(ctx); return err },
		"Flush":  func(ctx context.Context) error { return s.Flush(ctx) },
		"ApplyLog": func(ctx context.Context) error {
			return s.ApplyLog(ctx)
		},
		"Stats":     func(ctx context.Context) error { _, err := s.Stats(ctx); return err },
		"Thread":    func(ctx context.Context) error { _, err := s.Thread(ctx, "w0-s0"); return err },
		"ResolveID": func(ctx context.Context) error { _, err := s.ResolveID(ctx, "w0-s0", "", "01"); return err },
		"Load":      func(ctx context.Context) error { _, err := s.Load(ctx, "w0-p", ulid.Make().String()); return err },
		"Close":     func(ctx context.Context) error { return s.Close() },
	}
	for name, fn := range calls {
		err := h.call("after Close: "+name, fn)
		if name == "Close" {
			if err != nil && !errors.Is(err, ckpt.ErrClosed) {
				h.find("Close again: %v", err)
			}
			continue
		}
		if name == "Rekey" && !h.mode.enc && errors.Is(err, ckpt.ErrInvalidConfig) {
			continue // no keys: refused before anything else
		}
		if !errors.Is(err, ckpt.ErrClosed) {
			h.find("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// checkAll checks the whole reopened store against the model.
func (h *h118Run) checkAll(what string) {
	ctx := context.Background()
	s := h.store()
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		h.find("%s: Verify: %v %+v", what, err, rep)
	}
	r0 := h.tick()
	shown := map[*h118Thread]map[string]bool{}
	n := 0
	for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			h.find("%s: List: %v", what, err)
			break
		}
		n++
		h.m.mu.Lock()
		e, cerr := h.m.check(h118FromTuple(tup), r0, r0, false)
		h.m.mu.Unlock()
		if cerr != nil {
			h.find("%s: %v", what, cerr)
			continue
		}
		if shown[e.th] == nil {
			shown[e.th] = map[string]bool{}
		}
		shown[e.th][tup.Config.CheckpointNS+"/"+tup.Config.CheckpointID] = true
	}
	for _, th := range h.m.threads {
		sh := shown[th]
		if sh == nil {
			sh = map[string]bool{}
		}
		h.missing(what, th, nil, sh, r0, r0, nil)
		for _, e := range th.entries {
			if e.observedInFlight && e.status == h118Failed {
				h.find("%s: %q %s (op %s) was read, and its write failed", what, th.name, e.id, e.op)
			}
		}
	}
	// The simple API agrees.
	for name, th := range h.m.threads {
		if th.kind != "simple" {
			continue
		}
		for sn, err := range s.History(ctx, name, ckpt.ListOptions{}) {
			if err != nil {
				h.find("%s: History %q: %v", what, name, err)
				break
			}
			h.checkShown(what+" History", h118FromSnap(name, sn), r0, r0)
		}
	}
	h.t.Logf("%s: %d checkpoints read back", what, n)
}

// TestH118VerifyBesideImport: Verify on a live store while an Import of
// this handle is between two of its batches must not report the import's
// threads (reads hide them until the import publishes them) as "left by
// an import that did not finish". Found by TestH118ConcurrentModel (mode
// nowal, seeds 5000, 5002, 5004 under -race): with NoWAL, Verify runs in
// the commit loop on the writer, which no read gate hides anything from.
func TestH118VerifyBesideImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := src.Save(ctx, "big", map[string]any{"i": i, "s": fmt.Sprint("step ", i)}, ckpt.Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, noWAL := range []bool{false, true} {
		t.Run(fmt.Sprint("nowal=", noWAL), func(t *testing.T) {
			s, err := ckpt.Open(filepath.Join(dir, fmt.Sprint("dst", noWAL, ".db")), ckpt.Options{NoWAL: noWAL})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Save(ctx, "own", map[string]any{"a": 1}, nil); err != nil {
				t.Fatal(err)
			}
			batches := 0
			var problems []ckpt.Problem
			_, err = s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{Progress: func(int64) {
				batches++
				rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
				if err != nil {
					t.Errorf("Verify between batches: %v", err)
					return
				}
				problems = append(problems, rep.Problems...)
			}})
			if err != nil {
				t.Fatal(err)
			}
			if batches < 2 {
				t.Fatalf("%d batches: the dump must take more than one", batches)
			}
			if len(problems) > 0 {
				t.Errorf("Verify of a live store between an import's batches: %v", problems)
			}
			rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("Verify after the import: %v %v", err, rep.Problems)
			}
		})
	}
}

// TestH118RetentionAfterAsyncWrites: Prune, DeleteForRuns and GC act on
// every write queued before them, Async ones included, as DeleteThread
// and CopyThread (which run in the commit loop) do: a caller that saves
// asynchronously and then deletes a thread, a run or the old checkpoints
// must not find, after a Flush, the checkpoints it queued first. They
// plan on a snapshot, which holds an Async write only once its group is
// logged; so they missed the writes still queued (found by
// TestH118ConcurrentModel, mode async, seed 5019: a Save after
// Prune(PruneDelete) got the deleted thread's checkpoint as its parent).
func TestH118RetentionAfterAsyncWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "async.db"), ckpt.Options{Durability: ckpt.Async})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func(thread string) int {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	for i := range 5 {
		for _, c := range []struct {
			name string
			op   func(thread, run string) error
			want int // checkpoints left in the thread
		}{
			{"PruneDelete", func(th, _ string) error { return s.Prune(ctx, []string{th}, ckpt.PruneDelete) }, 0},
			{"PruneKeepLatest", func(th, _ string) error { return s.Prune(ctx, []string{th}, ckpt.PruneKeepLatest) }, 1},
			{"DeleteForRuns", func(_, run string) error { return s.DeleteForRuns(ctx, []string{run}) }, 0},
			{"GC", func(string, string) error { _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1}); return err }, 1},
		} {
			th := fmt.Sprintf("%s-%d", c.name, i)
			run := "run-" + th
			for j := range 3 {
				if _, err := s.Save(ctx, th, map[string]any{"j": j}, ckpt.Metadata{"run_id": run}); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.op(th, run); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(th); n != c.want {
				t.Errorf("%s after 3 Async Saves, round %d: %d checkpoints left, want %d", c.name, i, n, c.want)
			}
		}
	}
}

// TestH118CloseDuringMaintenance: Close while Rekey, Import, Compact,
// BackupFile, Backup, Export, GC and Verify run on a store large enough
// that they are in the middle of their work: each returns nil or
// ErrClosed (never another error, a panic or a hang), Close returns, and
// after a reopen Verify is clean, every checkpoint written before reads
// back exact, and the Import is all or nothing. CKPT_H118_CLOSE_ROUNDS
// for more rounds (default 2).
func TestH118CloseDuringMaintenance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	const threads, steps = 6, 60
	pad := strings.Repeat("p", 3000)
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for th := range 3 {
		for i := range steps {
			if _, err := src.Save(ctx, fmt.Sprint("imp-", th), map[string]any{"i": i, "pad": pad}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	rounds := h118EnvInt("CKPT_H118_CLOSE_ROUNDS", 2)
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 118))
		path := filepath.Join(dir, fmt.Sprintf("c%d.db", round))
		k1 := ckpt.Options{Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(1)}}}
		s, err := ckpt.Open(path, k1)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{} // thread/id -> i
		for th := range threads {
			for i := range steps {
				name := fmt.Sprint("t", th)
				id, err := s.Save(ctx, name, map[string]any{"i": i, "pad": pad + name}, ckpt.Metadata{"i": i})
				if err != nil {
					t.Fatal(err)
				}
				want[name+"/"+id] = i
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		opts := ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}
		if s, err = ckpt.Open(path, opts); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		var importErr error
		ops := map[string]func(context.Context) error{
			"Rekey": func(ctx context.Context) error { _, err := s.Rekey(ctx); return err },
			"Import": func(ctx context.Context) error {
				_, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{})
				importErr = err
				return err
			},
			"Compact": func(ctx context.Context) error { _, err := s.Compact(ctx, nil); return err },
			"BackupFile": func(ctx context.Context) error {
				return s.BackupFile(ctx, filepath.Join(dir, fmt.Sprintf("b%d.db", round)))
			},
			"Backup": func(ctx context.Context) error { return s.Backup(ctx, io.Discard) },
			"Export": func(ctx context.Context) error { _, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{}); return err },
			"GC":     func(ctx context.Context) error { _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1000}); return err },
			"Verify": func(ctx context.Context) error { _, err := s.Verify(ctx, ckpt.VerifyOptions{}); return err },
		}
		for name, op := range ops {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, h118CallLimit)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- op(ctx) }()
				select {
				case err := <-done:
					if err != nil && !errors.Is(err, ckpt.ErrClosed) {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s: %v", name, err))
						mu.Unlock()
					}
				case <-time.After(h118HangLimit):
					buf := make([]byte, 8<<20)
					panic(fmt.Sprintf("%s hangs beside Close:\n%s", name, buf[:runtime.Stack(buf, true)]))
				}
			})
		}
		time.Sleep(time.Duration(r.IntN(150)) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("round %d: Close: %v", round, err)
			}
		case <-time.After(h118HangLimit):
			buf := make([]byte, 8<<20)
			panic(fmt.Sprintf("Close hangs:\n%s", buf[:runtime.Stack(buf, true)]))
		}
		wg.Wait()
		for _, b := range bad {
			t.Errorf("round %d: %s", round, b)
		}
		if s, err = ckpt.Open(path, opts); err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("round %d: Verify: %v %v", round, err, rep)
		}
		n := 0
		imported := map[string]int{}
		for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				t.Fatalf("round %d: List: %v", round, err)
			}
			th := tup.Config.ThreadID
			if strings.HasPrefix(th, "imp-") {
				imported[th]++
				continue
			}
			var i int
			var p string
			if err := tup.Decode("i", &i); err != nil {
				t.Fatal(err)
			}
			if err := tup.Decode("pad", &p); err != nil || p != pad+th {
				t.Errorf("round %d: %s/%s pad %.20q (%v)", round, th, tup.Config.CheckpointID, p, err)
			}
			if w, ok := want[th+"/"+tup.Config.CheckpointID]; !ok || w != i {
				t.Errorf("round %d: %s/%s reads %d, want %d (%v)", round, th, tup.Config.CheckpointID, i, w, ok)
			}
			n++
		}
		if n != len(want) {
			t.Errorf("round %d: %d checkpoints, want %d", round, n, len(want))
		}
		all := len(imported) == 3 && imported["imp-0"] == steps && imported["imp-1"] == steps && imported["imp-2"] == steps
		if !(len(imported) == 0 || all) || (importErr == nil && !all) {
			t.Errorf("round %d: Import (err %v) left %v: all or nothing", round, importErr, imported)
		}
		s.Close()
		t.Logf("round %d: %d checkpoints exact, import %v (%v)", round, n, all, importErr)
	}
}
