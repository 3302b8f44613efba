package web

// The fork action and its form: a new checkpoint whose parent is an old
// one, with some channels edited as JSON and the others kept as the
// parent's stored bytes.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/ckpt-go/ckpt"
)

const (
	// forkEditLimit is the encoded size above which a channel is not put in
	// the fork form's text but kept as the parent's bytes: a state of
	// megabytes would make a page of megabytes, and a POST past the 16 MB
	// a write action reads could not fork it at all.
	forkEditLimit = 64 << 10
	// forkTextBudget bounds the form's text as a whole (channels are taken
	// smallest first): many channels each under forkEditLimit still make
	// one bounded page.
	forkTextBudget = 256 << 10
)

// keptChannel is a channel the fork form does not put in its text: the
// fork keeps it as the parent's bytes unless its box is unticked.
type keptChannel struct {
	Name string
	Size int
	Why  string
}

// forkForm splits t's channels into those the form's text holds, as JSON
// can say them, and those it keeps as stored: too large to edit as text,
// past the text's budget, or unreadable here (sealed under a key the
// handle lacks, or not decodable). A kept channel is never decoded when
// it is too large, so the page's cost is bounded too.
func forkForm(t *ckpt.Tuple) (text map[string]any, kept []keptChannel) {
	type chRaw struct {
		name string
		raw  ckpt.Raw
	}
	var chs []chRaw
	for ch, v := range t.Checkpoint.ChannelValues {
		raw, _ := v.(ckpt.Raw)
		chs = append(chs, chRaw{ch, raw})
	}
	slices.SortFunc(chs, func(a, b chRaw) int {
		return cmp.Or(cmp.Compare(len(a.raw), len(b.raw)), cmp.Compare(a.name, b.name))
	})
	text = map[string]any{}
	used := 0
	for _, c := range chs {
		k := keptChannel{Name: c.name, Size: len(c.raw)}
		if len(c.raw) > forkEditLimit {
			k.Why = "too large to edit as text"
			kept = append(kept, k)
			continue
		}
		j, err := JSONValue(c.raw)
		switch {
		case errors.Is(err, ckpt.ErrKey):
			k.Why = "sealed under a key this handle was not given"
		case err != nil:
			k.Why = "cannot be shown as JSON"
		default:
			if n := len(marshalText(j, "")); used+n <= forkTextBudget {
				used += n
				text[c.name] = j
				continue
			}
			k.Why = "the text box is full"
		}
		kept = append(kept, k)
	}
	slices.SortFunc(kept, func(a, b keptChannel) int { return cmp.Compare(a.Name, b.Name) })
	return text, kept
}

// fork stores a new checkpoint whose parent is the given one and whose
// state is the edited JSON plus the channels the form kept (each "keep"
// value: the parent's bytes, unread): a branch of the thread's history,
// the way LangGraph's update_state forks from an old checkpoint. It is the
// store's own fork (Save with WriteOptions.Parent), so the store decides
// which channels changed (by their encoded bytes) and gives them versions
// by its one scheme; the browser makes none up. A channel neither in the
// text nor kept is left out of the fork. Save works in the root namespace
// only, so a subgraph's checkpoint cannot be forked here.
func (s *server) fork(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.PostForm
	if f.Get("ns") != "" {
		s.fail(w, r, http.StatusBadRequest, "fork works in the root namespace only")
		return
	}
	parent, err := s.getTuple(ctx, f.Get("t"), "", f.Get("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	state, err := decodeState(f.Get("state"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "state: "+err.Error())
		return
	}
	keepUnedited(state, parent)
	kept := map[string]ckpt.Raw{} // apart from state, so a repeated keep is not taken as an edit
	for _, ch := range f["keep"] {
		raw, ok := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if !ok {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("keep: checkpoint %s has no channel %q", parent.Config.CheckpointID, ch))
			return
		}
		if _, edited := state[ch]; edited {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("channel %q is both kept as it was and in the edited state: untick its box to replace it, or take it out of the text", ch))
			return
		}
		kept[ch] = raw
	}
	for ch, raw := range kept {
		state[ch] = raw
	}
	meta := ckpt.Metadata{"source": "fork", "forked_from": parent.Config.CheckpointID, "node": "ckpt web"}
	if step, ok := parent.Metadata["step"]; ok {
		meta["step"] = step
	}
	if run, ok := parent.Metadata["run_id"]; ok {
		meta["run_id"] = run
	}
	thread := parent.Config.ThreadID
	id, err := s.st(ctx).Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent.Config.CheckpointID}), thread, state, meta)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/checkpoint", "t", thread, "id", id), http.StatusSeeOther)
}

// keepUnedited puts back, as the parent's stored bytes, every channel of
// the edited state that still reads as the form showed it. JSON cannot say
// all that msgpack holds (a float that is whole, bytes, NaN, a time, a
// uint64 past int64, a map with integer keys), so a channel sent back
// unedited would otherwise be stored as what its JSON text decodes to: 1.0
// as 1, bytes as a base64 string, each under a new version, in a fork that
// meant to change one other channel. Comparing decoded values, not texts,
// lets a person reformat the text without changing what is stored. Only
// the channels in the text are read, so a large kept one costs nothing.
func keepUnedited(state map[string]any, parent *ckpt.Tuple) {
	for ch, v := range state {
		raw, ok := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if !ok {
			continue
		}
		j, err := JSONValue(raw)
		if err != nil {
			continue // not shown on the form: whatever was sent is an edit
		}
		if shown, err := decodeJSON(marshalText(j, "")); err == nil && reflect.DeepEqual(v, shown) {
			state[ch] = raw
		}
	}
}

// decodeState reads the edited state: a JSON object of channels (an empty
// text is none: every channel kept or left out).
func decodeState(text string) (map[string]any, error) {
	if strings.TrimSpace(text) == "" {
		return map[string]any{}, nil
	}
	v, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object of channels")
	}
	return m, nil
}

// decodeJSON reads one JSON value. Numbers that are integers stay integers
// (json's float64 would change the bytes of every integer channel and so
// fork channels nobody edited).
func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}
