package ckpt

import (
	"fmt"
	"math"
	"reflect"
)

// selector is a validated ListOptions.
type selector struct {
	thread string
	ns     *string
	before []byte // exclusive upper bound on ids, nil for none
	filter map[string]any
}

func newSelector(opts ListOptions) (*selector, error) {
	sel := &selector{thread: opts.ThreadID, ns: opts.Namespace}
	if err := validName("thread id", opts.ThreadID, MaxThreadIDLen); err != nil {
		return nil, err
	}
	if opts.Namespace != nil {
		if err := validName("checkpoint namespace", *opts.Namespace, MaxNamespaceLen); err != nil {
			return nil, err
		}
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalidConfig, opts.Limit)
	}
	if opts.Before != "" {
		id, err := parseID("before", opts.Before)
		if err != nil {
			return nil, err
		}
		sel.before = id[:]
	}
	if len(opts.Filter) > 0 {
		f, err := normalizeFilter(opts.Filter)
		if err != nil {
			return nil, err
		}
		sel.filter = f
	}
	return sel, nil
}

// normalizeFilter round-trips the filter through the metadata codec, so it
// has exactly the shapes stored metadata decodes to (int64, float64,
// map[string]any, []any ...), whatever Go types the caller used.
func normalizeFilter(f map[string]any) (map[string]any, error) {
	b, err := encodeMetadata(f)
	if err != nil {
		return nil, fmt.Errorf("%w: filter: %v", ErrInvalidConfig, err)
	}
	m, err := decodeMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%w: filter: %v", ErrInvalidConfig, err)
	}
	return m, nil
}

// matchMetadata reports whether md contains filter: every filter key is
// present with a matching value; maps match as subsets.
func matchMetadata(md, filter map[string]any) bool {
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
		return ok && matchMetadata(mm, fv)
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
