package web

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"

	"github.com/ckpt-go/ckpt"
)

// The difference of two checkpoints, as `ckpt diff` prints it and the diff
// page draws it. It lives here, in a library package, so the command and
// the browser compute the same thing.

// CheckpointRef names one side of a Diff.
type CheckpointRef struct {
	ID   string `json:"id"`
	Step any    `json:"step"`
	Node any    `json:"node"`
}

// ChannelChange is one channel whose value differs.
type ChannelChange struct {
	Channel     string `json:"channel"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
	// Appended holds the items added at the end of a list channel; From
	// and To are set when the change is not an append.
	Appended []any `json:"appended,omitempty"`
	From     any   `json:"from,omitempty"`
	To       any   `json:"to,omitempty"`
}

// ValueChange is a metadata value that differs.
type ValueChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// Diff is what changed from one checkpoint to another: channels added,
// removed, changed (for a list that grew, the items appended) and
// unchanged, and metadata differences. Values are decoded into what
// encoding/json prints (see JSONValue).
type Diff struct {
	Thread string        `json:"thread"`
	NS     string        `json:"ns"`
	From   CheckpointRef `json:"from"`
	To     CheckpointRef `json:"to"`

	Added     map[string]any  `json:"added"`
	Removed   map[string]any  `json:"removed"`
	Changed   []ChannelChange `json:"changed"`
	Unchanged []string        `json:"unchanged"`

	MetadataAdded   map[string]any         `json:"metadata_added"`
	MetadataRemoved map[string]any         `json:"metadata_removed"`
	MetadataChanged map[string]ValueChange `json:"metadata_changed"`
}

// DiffTuples compares checkpoint a (from) with b (to). Channels compare by
// their stored bytes, so only a real change is reported; a value that does
// not decode is an error naming the checkpoint and channel.
func DiffTuples(a, b *ckpt.Tuple) (*Diff, error) {
	d := &Diff{Thread: a.Config.ThreadID, NS: a.Config.CheckpointNS,
		From:  CheckpointRef{a.Config.CheckpointID, a.Metadata["step"], a.Metadata["node"]},
		To:    CheckpointRef{b.Config.CheckpointID, b.Metadata["step"], b.Metadata["node"]},
		Added: map[string]any{}, Removed: map[string]any{}, Changed: []ChannelChange{}, Unchanged: []string{},
		MetadataAdded: map[string]any{}, MetadataRemoved: map[string]any{}, MetadataChanged: map[string]ValueChange{}}
	av, bv := a.Checkpoint.ChannelValues, b.Checkpoint.ChannelValues
	decode := func(t *ckpt.Tuple, ch string) (any, error) {
		raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		v, err := JSONValue(raw)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s channel %q: %w", t.Config.CheckpointID, ch, err)
		}
		return v, nil
	}
	for _, ch := range sortedKeys(av) {
		if _, ok := bv[ch]; !ok {
			v, err := decode(a, ch)
			if err != nil {
				return nil, err
			}
			d.Removed[ch] = v
		}
	}
	for _, ch := range sortedKeys(bv) {
		bRaw, _ := bv[ch].(ckpt.Raw)
		aVal, inA := av[ch]
		if !inA {
			v, err := decode(b, ch)
			if err != nil {
				return nil, err
			}
			d.Added[ch] = v
			continue
		}
		if aRaw, _ := aVal.(ckpt.Raw); bytes.Equal(aRaw, bRaw) &&
			(!unreadable(aRaw) || a.Checkpoint.ChannelVersions[ch] == b.Checkpoint.ChannelVersions[ch]) {
			d.Unchanged = append(d.Unchanged, ch)
			continue
		}
		from, err := decode(a, ch)
		if err != nil {
			return nil, err
		}
		to, err := decode(b, ch)
		if err != nil {
			return nil, err
		}
		c := ChannelChange{Channel: ch, FromVersion: a.Checkpoint.ChannelVersions[ch], ToVersion: b.Checkpoint.ChannelVersions[ch]}
		fl, fok := from.([]any)
		tl, tok := to.([]any)
		if fok && tok && len(tl) > len(fl) && reflect.DeepEqual(fl, tl[:len(fl)]) {
			c.Appended = tl[len(fl):]
		} else {
			c.From, c.To = from, to
		}
		d.Changed = append(d.Changed, c)
	}
	am, bm := Jsonable(map[string]any(a.Metadata)).(map[string]any), Jsonable(map[string]any(b.Metadata)).(map[string]any)
	for _, k := range sortedKeys(am) {
		if _, ok := bm[k]; !ok {
			d.MetadataRemoved[k] = am[k]
		}
	}
	for _, k := range sortedKeys(bm) {
		v, ok := am[k]
		switch {
		case !ok:
			d.MetadataAdded[k] = bm[k]
		case !reflect.DeepEqual(v, bm[k]):
			d.MetadataChanged[k] = ValueChange{v, bm[k]}
		}
	}
	return d, nil
}

// unreadable reports bytes that are no stored value: no msgpack value
// starts with 0xc1, which starts the stand-in for a value sealed under a
// key the handle was not given. Every value sealed under one key has the
// same stand-in, so equal stand-ins say nothing of the values; only equal
// versions do (a version names one value for ever).
func unreadable(raw ckpt.Raw) bool { return len(raw) > 0 && raw[0] == 0xc1 }

// JSONValue decodes a stored value into something encoding/json prints.
func JSONValue(raw ckpt.Raw) (any, error) {
	v, err := decodeValue(raw)
	return Jsonable(v), err
}

// Jsonable rewrites, in place, what msgpack decodes but JSON cannot hold:
// maps with non-string keys, NaN and infinities (as strings).
func Jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = Jsonable(e)
		}
		return x
	case ckpt.Metadata:
		return Jsonable(map[string]any(x))
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = Jsonable(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = Jsonable(x[i])
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
