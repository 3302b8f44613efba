package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
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
// LangGraph's update_state forks from an old checkpoint. Channels whose
// encoded bytes are unchanged keep their version; a changed channel gets a
// version no other branch can hold (a random suffix), because a version
// names one content forever.
func (s *server) fork(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.PostForm
	parent, err := s.getTuple(ctx, f.Get("t"), f.Get("ns"), f.Get("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	state, err := decodeState(f.Get("state"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "state: "+err.Error())
		return
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	cp := ckpt.Checkpoint{V: parent.Checkpoint.V, ChannelValues: map[string]any{},
		ChannelVersions: map[string]string{}, VersionsSeen: parent.Checkpoint.VersionsSeen}
	newVersions := map[string]string{}
	for ch, v := range state {
		raw, err := ckpt.EncodeValue(fmt.Sprintf("channel %q", ch), v)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		old, _ := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if old != nil && bytes.Equal(old, raw) {
			cp.ChannelVersions[ch] = parent.Checkpoint.ChannelVersions[ch]
			continue
		}
		ver := parent.Checkpoint.ChannelVersions[ch] + "+fork." + hex.EncodeToString(suffix[:])
		cp.ChannelVersions[ch], cp.ChannelValues[ch], newVersions[ch] = ver, raw, ver
	}
	meta := ckpt.Metadata{"source": "fork", "forked_from": parent.Config.CheckpointID, "node": "ckpt web"}
	if step, ok := parent.Metadata["step"]; ok {
		meta["step"] = step
	}
	if run, ok := parent.Metadata["run_id"]; ok {
		meta["run_id"] = run
	}
	cfg, err := s.store.Put(ctx, parent.Config, cp, meta, newVersions)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/checkpoint", "t", cfg.ThreadID, "ns", cfg.CheckpointNS, "id", cfg.CheckpointID), http.StatusSeeOther)
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
