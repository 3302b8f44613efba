package saverkit

import (
	"bytes"
	"fmt"
	"math"
	"reflect"

	"github.com/oklog/ulid/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// Selector is a validated ckpt.ListOptions.
type Selector struct {
	// ThreadID is the one thread listed; "" lists every thread.
	ThreadID string
	// Namespace is the one namespace listed; nil lists every namespace.
	Namespace *string
	// Before, when not nil, is the exclusive upper bound on ids.
	Before *ulid.ULID
	// Limit is the most checkpoints listed; 0 means no limit.
	Limit int
	// Filter is the normalised metadata filter (see NormalizeFilter); nil
	// keeps every checkpoint.
	Filter map[string]any
}

// NewSelector validates the fields of a ckpt.ListOptions (pass them in
// order: ThreadID, Namespace, Before, Limit, Filter). Every malformed one
// is ErrInvalidConfig: a too long thread id or namespace, a negative
// limit, a Before that is not a ULID, a filter that does not encode.
func NewSelector(threadID string, ns *string, before string, limit int, filter map[string]any) (*Selector, error) {
	sel := &Selector{ThreadID: threadID, Namespace: ns, Limit: limit}
	if err := CheckName("thread id", threadID, MaxThreadIDLen); err != nil {
		return nil, err
	}
	if ns != nil {
		if err := CheckName("checkpoint namespace", *ns, MaxNamespaceLen); err != nil {
			return nil, err
		}
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalidConfig, limit)
	}
	if before != "" {
		id, err := ParseID("before", before)
		if err != nil {
			return nil, err
		}
		sel.Before = &id
	}
	if len(filter) > 0 {
		f, err := NormalizeFilter(filter)
		if err != nil {
			return nil, err
		}
		sel.Filter = f
	}
	return sel, nil
}

// NormalizeFilter returns a ckpt.ListOptions.Filter in the shapes stored
// metadata decodes to (int64, uint64 above MaxInt64, float64,
// map[string]any, []any, ...), whatever Go types the caller used, ready for
// MatchMetadata. It encodes the filter as the store encodes metadata
// (msgpack, json tags honoured) and decodes it generically. A filter that
// does not encode is ErrInvalidConfig.
func NormalizeFilter(filter map[string]any) (map[string]any, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	enc.SetCustomStructTag("json")
	if err := enc.Encode(filter); err != nil {
		return nil, fmt.Errorf("%w: filter: %v", ErrInvalidConfig, err)
	}
	dec := msgpack.NewDecoder(&buf)
	dec.SetCustomStructTag("json")
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: filter: %v", ErrInvalidConfig, err)
	}
	for k, v := range m {
		m[k] = Normalize(v)
	}
	return m, nil
}

// Normalize gives a generically decoded value, in place, the shapes the
// store's decoder returns: integers as int64 (uint64 only above
// MaxInt64), floats as float64, inside maps and lists too. A Saver that
// decodes metadata itself calls it so that filters compare like values.
func Normalize(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return Normalize(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case map[any]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = Normalize(e)
		}
		return x
	}
	return v
}

// MatchMetadata reports whether md contains filter (as normalised by
// NormalizeFilter): every filter key is present with a matching value,
// nested maps match as subsets, lists match element by element, numbers
// compare by value whatever their type (NaN matches nothing).
func MatchMetadata(md, filter map[string]any) bool {
	for k, fv := range filter {
		mv, ok := md[k]
		if !ok || !matchValue(fv, mv) {
			return false
		}
	}
	return true
}

func matchValue(f, m any) bool {
	switch fv := f.(type) {
	case map[string]any:
		mm, ok := m.(map[string]any)
		return ok && MatchMetadata(mm, fv)
	case []any:
		ms, ok := m.([]any)
		if !ok || len(ms) != len(fv) {
			return false
		}
		for i := range fv {
			if !matchValue(fv[i], ms[i]) {
				return false
			}
		}
		return true
	}
	if fn, ok := asNumber(f); ok {
		mn, ok := asNumber(m)
		return ok && fn.equal(mn)
	}
	return reflect.DeepEqual(f, m)
}

// number holds a decoded msgpack number exactly: integers as int64 or
// uint64, others as float64.
type number struct {
	kind byte // 'i', 'u', 'f'
	i    int64
	u    uint64
	f    float64
}

func asNumber(v any) (number, bool) {
	switch x := v.(type) {
	case int64:
		return number{kind: 'i', i: x}, true
	case uint64:
		return number{kind: 'u', u: x}, true
	case float64:
		return number{kind: 'f', f: x}, true
	case float32:
		return number{kind: 'f', f: float64(x)}, true
	}
	return number{}, false
}

func (a number) float() float64 {
	switch a.kind {
	case 'i':
		return float64(a.i)
	case 'u':
		return float64(a.u)
	}
	return a.f
}

func (a number) equal(b number) bool {
	switch {
	case a.kind == 'i' && b.kind == 'i':
		return a.i == b.i
	case a.kind == 'u' && b.kind == 'u':
		return a.u == b.u
	case a.kind == 'i' && b.kind == 'u':
		return a.i >= 0 && uint64(a.i) == b.u
	case a.kind == 'u' && b.kind == 'i':
		return b.i >= 0 && uint64(b.i) == a.u
	}
	af, bf := a.float(), b.float()
	return af == bf && !math.IsNaN(af)
}
