package web

// The checkpoint page (its channels, pending writes and metadata, what
// changed from its parent), one value in full, and the diff of two checkpoints.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
)

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
	Sealed   string // why the value cannot be read: sealed under a key not given
}

type writeView struct {
	ckpt.PendingWrite
	Tree   jnode
	Sealed string // as channelView's
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
	Kept      []keptChannel // the fork form's channels kept as stored
}

// getTuple resolves the (thread, ns, id) of a request and reads the tuple.
// A malformed id is ErrInvalidConfig (400), a missing one ErrNotFound.
func (s *server) getTuple(ctx context.Context, thread, ns, id string) (*ckpt.Tuple, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: no checkpoint id given", ckpt.ErrInvalidConfig)
	}
	full, err := s.st(ctx).ResolveID(ctx, thread, ns, id)
	if err != nil {
		return nil, err
	}
	return s.st(ctx).GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: full})
}

func (s *server) parentOf(ctx context.Context, t *ckpt.Tuple) *ckpt.Tuple {
	if t.ParentConfig == nil {
		return nil
	}
	p, err := s.st(ctx).GetTuple(ctx, *t.ParentConfig)
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
	// One node budget for the page; metadata is drawn first, so values
	// that use it up cannot hide it.
	b := newBudget()
	for _, k := range sortedKeys(t.Metadata) {
		d.Meta = append(d.Meta, metaView{Key: k, Tree: buildTree("", Jsonable(t.Metadata[k]), 1, -1, 0, b)})
	}
	for _, ch := range sortedKeys(t.Checkpoint.ChannelValues) {
		raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		cv := channelView{Name: ch, Version: t.Checkpoint.ChannelVersions[ch], Size: len(raw)}
		cv.Changed = parent == nil || parent.Checkpoint.ChannelVersions[ch] != cv.Version
		if len(raw) > s.opts.InlineLimit {
			cv.Lazy = s.link("/value", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", cfg.CheckpointID, "ch", ch)
		} else {
			tree, appended, err := channelTree(t, parent, ch, 0, b)
			switch {
			case errors.Is(err, ckpt.ErrKey):
				// The handle lacks the key: the rest of the checkpoint
				// (versions, metadata, tasks) is readable. Not its size:
				// raw is the library's stand-in for the sealed value.
				cv.Sealed = plainError(err)
			case err != nil:
				s.failErr(w, r, err)
				return
			default:
				cv.Tree, cv.Appended = &tree, appended
			}
		}
		d.Channels = append(d.Channels, cv)
	}
	tasks := map[string]bool{}
	for _, pw := range t.PendingWrites {
		v, err := decodeValue(pw.Value)
		tasks[pw.TaskID] = true
		switch {
		case errors.Is(err, ckpt.ErrKey):
			d.Writes = append(d.Writes, writeView{PendingWrite: pw, Sealed: plainError(err)})
			continue
		case err != nil:
			s.failErr(w, r, fmt.Errorf("pending write %s/%d: %w", pw.TaskID, pw.Idx, err))
			return
		}
		d.Writes = append(d.Writes, writeView{PendingWrite: pw, Tree: buildTree("", v, 1, -1, 0, b)})
	}
	d.Tasks = len(tasks)
	if s.writable() {
		text, kept := forkForm(t)
		d.StateJSON, d.Kept = marshalText(text, "  "), kept
	}
	s.render(w, http.StatusOK, "checkpoint", "checkpoint "+cfg.CheckpointID, d)
}

// channelTree draws one channel of t; when it is a list that extends the
// parent's list, the items past the parent's length are marked new.
func channelTree(t, parent *ckpt.Tuple, ch string, limit int, b *budget) (jnode, int, error) {
	raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
	v, err := decodeValue(raw)
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
				if pv, err := decodeValue(praw); err == nil {
					pl, prefixOK = pv.([]any)
					prefixOK = prefixOK || pv == nil
				}
			}
			if prefixOK && len(pl) < len(list) && isPrefix(pl, list) {
				newFrom, appended = len(pl), len(list)-len(pl)
			}
		}
	}
	return buildTree("", v, 0, newFrom, limit, b), appended, nil
}

type valueData struct {
	Thread, NS, ID, Channel string
	Back                    string
	Tree                    jnode
	Appended                int
	Cut                     int // the page's node budget, when the value used it up
}

// value draws one channel's whole value: the target of a large value's
// "load" link. With fragment=1 it answers only the tree, for the
// checkpoint page's script to insert in place.
func (s *server) value(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	ch := q.Get("ch")
	t, err := s.getTuple(ctx, q.Get("t"), q.Get("ns"), q.Get("id"))
	if err != nil && ch != "" && errors.Is(err, ckpt.ErrCorrupt) {
		// The damage may be in another channel: say which one was asked
		// for, and that the checkpoint does not read whole (as the CLI's
		// show --channel does).
		err = fmt.Errorf("channel %q: the checkpoint does not read whole, so whether it has that channel is not known: %w", ch, err)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if _, ok := t.Checkpoint.ChannelValues[ch]; !ok {
		have := strings.Join(slices.Sorted(maps.Keys(t.Checkpoint.ChannelValues)), ", ")
		if ch == "" {
			// A link cut short: the request lacks the page's argument.
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("the value page needs a channel (ch=NAME); checkpoint %s has: %s", t.Config.CheckpointID, have))
			return
		}
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("checkpoint %s has no channel %q (it has: %s)", t.Config.CheckpointID, ch, have))
		return
	}
	b := newBudget()
	tree, appended, err := channelTree(t, s.parentOf(ctx, t), ch, 100000, b)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	cfg := t.Config
	d := valueData{Thread: cfg.ThreadID, NS: cfg.CheckpointNS, ID: cfg.CheckpointID, Channel: ch, Tree: tree, Appended: appended,
		Back: s.link("/checkpoint", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", cfg.CheckpointID)}
	if b.left <= 0 {
		d.Cut = pageNodes
	}
	if q.Get("fragment") == "1" {
		s.render(w, http.StatusOK, "fragment", "", d)
		return
	}
	s.render(w, http.StatusOK, "value", "channel "+shownName(ch), d)
}

type diffData struct {
	D       *Diff
	NS      string
	FromURL string
	ToURL   string
	SwapURL string
	// D's values as the page draws them (diff_cut.go).
	Added, Removed []diffLine
	Changed        []diffChange
	Metadata       []diffLine
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
			s.failErr(w, r, sideError{p, err})
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
	cutDiff(d, &dd)
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

// sideError is the error of one side (a or b) of a diff, named by it as
// the page says it ("a: ..."), without the library's prefix.
type sideError struct {
	side string
	err  error
}

func (e sideError) Error() string { return e.side + ": " + plainError(e.err) }
func (e sideError) Unwrap() error { return e.err }
