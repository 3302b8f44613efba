package web

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// The writing actions, reached only through writeAction (AllowWrites and
// the CSRF token checked). Each answers 303 to the page of what it made.

func (s *server) deleteThread(w http.ResponseWriter, r *http.Request) {
	thread := r.PostForm.Get("t")
	if _, err := s.store.Thread(r.Context(), thread); err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.store.DeleteThread(r.Context(), thread); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/"), http.StatusSeeOther)
}

func (s *server) copyThread(w http.ResponseWriter, r *http.Request) {
	src, dst := r.PostForm.Get("t"), strings.TrimSpace(r.PostForm.Get("dst"))
	if err := s.store.CopyThread(r.Context(), src, dst, ckpt.CopyOptions{}); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/thread", "t", dst), http.StatusSeeOther)
}

// fork stores a new checkpoint whose parent is the given one and whose
// state is the edited JSON: a branch of the thread's history, the way
// LangGraph's update_state forks from an old checkpoint. It is the store's
// own fork (Save with WriteOptions.Parent), so the store decides which
// channels changed (by their encoded bytes) and gives them versions by its
// one scheme; the browser makes none up. Save works in the root namespace
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
	meta := ckpt.Metadata{"source": "fork", "forked_from": parent.Config.CheckpointID, "node": "ckpt web"}
	if step, ok := parent.Metadata["step"]; ok {
		meta["step"] = step
	}
	if run, ok := parent.Metadata["run_id"]; ok {
		meta["run_id"] = run
	}
	thread := parent.Config.ThreadID
	id, err := s.store.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent.Config.CheckpointID}), thread, state, meta)
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
// lets a person reformat the text without changing what is stored.
func keepUnedited(state map[string]any, parent *ckpt.Tuple) {
	shown, err := decodeState(marshalText(formState(parent), ""))
	if err != nil {
		return // nothing to compare with: every channel is taken as edited
	}
	for ch, v := range state {
		raw, ok := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if s, had := shown[ch]; ok && had && reflect.DeepEqual(v, s) {
			state[ch] = raw
		}
	}
}

// formState is the state the fork form shows: each channel as JSON can
// hold it (a channel that does not decode is left out).
func formState(t *ckpt.Tuple) map[string]any {
	state := map[string]any{}
	for ch, v := range t.Checkpoint.ChannelValues {
		raw, _ := v.(ckpt.Raw)
		if j, err := JSONValue(raw); err == nil {
			state[ch] = j
		}
	}
	return state
}

// decodeState reads the edited state: a JSON object of channels. Numbers
// that are integers stay integers (json's float64 would change the bytes of
// every integer channel and so fork channels nobody edited).
func decodeState(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object of channels")
	}
	out := maps.Clone(m)
	for k, e := range out {
		out[k] = numbers(e)
	}
	return out, nil
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
