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
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ckpt-go/ckpt"
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
