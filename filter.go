package ckpt

import (
	"math"
	"slices"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// selector is a validated ListOptions.
type selector struct {
	thread string
	ns     *string
	before []byte // exclusive upper bound on ids, nil for none
	filter map[string]any
	// enc is filter made ready for matchEncoded, nil when it holds a value
	// matchEncoded does not compare (every metadata record is then
	// decoded, as matchMetadata needs).
	enc *encFilter
	// nsPrefix is the prefix of the namespace's keys in the thread's
	// buckets (nsKey) when the selector names a thread and a namespace:
	// List then walks the thread's checkpoint bucket (inNS).
	nsPrefix []byte
	// checked is the List's record of the threads whose namespaces it
	// checked (list_namespaces.go): a selector is one List's, and holding
	// it here costs the List no allocation of its own.
	checked nsChecked
}

// inNS reports whether sel names one thread and one namespace. Their
// checkpoints are the keys of the thread's checkpoint bucket under the
// namespace's prefix, in id order (newest last), the history order
// restricted to the namespace: List walks them there, each key with its
// header record, instead of walking the history order and seeking each
// header (the history order interleaves the namespaces).
func (sel *selector) inNS() bool { return sel.nsPrefix != nil }

// start is where List's first page starts: the bound before, as a key of
// the bucket List walks (inNS: the checkpoint bucket's keys are the
// namespace's prefix, then the id), nil for none.
func (sel *selector) start() []byte {
	if sel.before == nil || !sel.inNS() {
		return sel.before
	}
	return append(slices.Clip(sel.nsPrefix), sel.before...)
}

// newSelector validates opts with the rules every Saver shares (saverkit).
func newSelector(opts ListOptions) (*selector, error) {
	ks, err := saverkit.NewSelector(opts.ThreadID, opts.Namespace, opts.Before, opts.Limit, opts.Filter)
	if err != nil {
		return nil, err
	}
	sel := &selector{thread: ks.ThreadID, ns: ks.Namespace, filter: ks.Filter}
	if ks.Before != nil {
		sel.before = ks.Before[:]
	}
	if len(sel.filter) > 0 {
		sel.enc, _ = compileFilter(sel.filter)
	}
	if sel.thread != "" && sel.ns != nil {
		sel.nsPrefix = nsKey(*sel.ns)
	}
	return sel, nil
}

// matchMetadata reports whether md contains filter (normalised by
// newSelector); the rule is saverkit's, shared with every Saver.
func matchMetadata(md, filter map[string]any) bool { return saverkit.MatchMetadata(md, filter) }

// matchesBody reports whether the metadata record body matches sel's
// filter: on the encoded bytes when matchEncoded can tell, otherwise by
// decoding the record (any error is the decoding's). A List with a filter
// skips most records it reads (R4: half), and a decoded map is three
// allocations per record, kept by none of them. md is the decoded
// metadata when it was decoded, for the tuple to keep.
func (sel *selector) matchesBody(body []byte) (match bool, md Metadata, err error) {
	if sel.enc != nil {
		if match, ok := matchEncoded(body, sel.enc); ok {
			return match, nil, nil
		}
	}
	md, err = decodeMetadataBody(body, string(body))
	if err != nil {
		return false, nil, err
	}
	return matchMetadata(md, sel.filter), md, nil
}

// encFilter is a normalised filter map as matchEncoded walks it: its keys
// sorted, so that a key's place is its bit in the walk's masks, and nested
// maps (also inside lists) compiled the same way.
type encFilter struct {
	keys []string
	vals []any // normalised values; a map is an *encFilter
}

// maxEncKeys is how many keys a filter map may have for matchEncoded:
// one bit each in a uint64.
const maxEncKeys = 64

// compileFilter makes an encFilter of f; false when f holds a map of more
// than maxEncKeys keys or a value of a type matchEncoded does not compare.
func compileFilter(f map[string]any) (*encFilter, bool) {
	if len(f) > maxEncKeys {
		return nil, false
	}
	e := &encFilter{keys: make([]string, 0, len(f))}
	for k := range f {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys)
	e.vals = make([]any, len(e.keys))
	for i, k := range e.keys {
		v, ok := compileValue(f[k])
		if !ok {
			return nil, false
		}
		e.vals[i] = v
	}
	return e, true
}

func compileValue(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return compileFilter(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, ok := compileValue(e)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case nil, string, bool, []byte, int64, uint64, float64:
		return v, true
	}
	return nil, false // time.Time, map[any]any, ...: decode and compare
}

// matchEncoded reports whether the metadata record body matches f as
// matchMetadata matches the map fastMetadataOf decodes from body, without
// decoding it. ok is false when it cannot tell (the caller decodes): the
// record is not one fastMetadataOf reads (an ext type such as a time, a
// key that is not a string, anything malformed or too deep), so an error
// or a value only the general decoder gives is never hidden. It checks the
// whole record, the values no filter key names too, for that reason.
func matchEncoded(body []byte, f *encFilter) (match, ok bool) {
	r := mpReader{b: body}
	n, ok := r.mapLen()
	if !ok || n < 0 {
		return false, false
	}
	match, ok = r.matchMap(n, f)
	return match, ok && r.done()
}

// matchMap reads the n pairs of a map and reports whether f is a subset
// of it. A key stored twice counts with its last value, as decoding a map
// keeps it.
func (r *mpReader) matchMap(n int, f *encFilter) (match, ok bool) {
	var found, matched uint64 // bit i: keys[i] seen, its last value matched
	for range n {
		c, ok := r.code()
		if !ok {
			return false, false
		}
		var k []byte
		if isFixstr(c) {
			k, ok = r.fixstr(c)
		} else {
			k, _, ok = r.bytesOf(c)
		}
		if !ok {
			return false, false
		}
		i := keyIndex(f.keys, k)
		if i < 0 {
			if !r.check() {
				return false, false
			}
			continue
		}
		m, ok := r.matchValue(f.vals[i])
		if !ok {
			return false, false
		}
		bit := uint64(1) << i
		found |= bit
		if m {
			matched |= bit
		} else {
			matched &^= bit
		}
	}
	all := uint64(1)<<len(f.keys) - 1
	if len(f.keys) == maxEncKeys {
		all = math.MaxUint64
	}
	return found == all && matched == all, true
}

// keyIndex returns the index of k in keys, -1 if absent. Linear: a
// filter names a key or two (the comparison copies nothing).
func keyIndex(keys []string, k []byte) int {
	for i, key := range keys {
		if key == string(k) {
			return i
		}
	}
	return -1
}

// matchValue reads one value and reports whether it matches the compiled
// filter value fv as saverkit's matchValue matches what value() decodes:
// maps as subsets, lists item by item, numbers by value whatever their
// encoding (NaN matches nothing), the rest by kind and equality. A value
// of another kind is still read through (check), so that the record is
// checked whole.
func (r *mpReader) matchValue(fv any) (match, ok bool) {
	start := r.i
	c, ok := r.code()
	if !ok {
		return false, false
	}
	mismatch := func() (bool, bool) {
		r.i = start
		return false, r.check()
	}
	switch x := fv.(type) {
	case *encFilter:
		if !msgpcode.IsFixedMap(c) && c != msgpcode.Map16 && c != msgpcode.Map32 {
			return mismatch()
		}
		n, ok := r.mapLenOf(c)
		if !ok || !r.enter() {
			return false, false
		}
		m, ok := r.matchMap(n, x)
		r.depth--
		return m, ok
	case []any:
		if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
			return mismatch()
		}
		n, ok := r.arrayLenOf(c)
		if !ok {
			return false, false
		}
		if n != len(x) {
			return mismatch()
		}
		if !r.enter() {
			return false, false
		}
		all := true
		for _, e := range x {
			m, ok := r.matchValue(e)
			if !ok {
				return false, false
			}
			all = all && m
		}
		r.depth--
		return all, true
	case string:
		if !msgpcode.IsFixedString(c) && c != msgpcode.Str8 && c != msgpcode.Str16 && c != msgpcode.Str32 {
			return mismatch()
		}
		p, _, ok := r.bytesOf(c)
		return ok && string(p) == x, ok
	case []byte:
		if c != msgpcode.Bin8 && c != msgpcode.Bin16 && c != msgpcode.Bin32 {
			return mismatch()
		}
		// value() gives a bin as a non-nil []byte: equal to x by
		// reflect.DeepEqual unless x is nil.
		p, _, ok := r.bytesOf(c)
		return ok && x != nil && string(p) == string(x), ok
	case bool:
		if c != msgpcode.True && c != msgpcode.False {
			return mismatch()
		}
		return x == (c == msgpcode.True), true
	case nil:
		if c != msgpcode.Nil {
			return mismatch()
		}
		return true, true
	case int64, uint64, float64:
		r.i = start
		n, isNum, ok := r.number()
		if !ok {
			return false, false
		}
		if !isNum {
			return mismatch()
		}
		return numberOf(fv).equal(n), true
	}
	return false, false
}

// check reads one value through and reports whether value() would decode
// it: no ext type, map keys strings (or bin or nil, as str reads them),
// nesting within maxDepth.
func (r *mpReader) check() bool {
	c, ok := r.code()
	if !ok {
		return false
	}
	if r.skipShort(c) {
		return true
	}
	switch {
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, ok := r.mapLenOf(c)
		if !ok || !r.enter() {
			return false
		}
		for range n {
			c, ok := r.code()
			if !ok {
				return false
			}
			if _, _, ok := r.bytesOf(c); !ok || !r.check() {
				return false
			}
		}
		r.depth--
		return true
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, ok := r.arrayLenOf(c)
		if !ok || !r.enter() {
			return false
		}
		for range n {
			if !r.check() {
				return false
			}
		}
		r.depth--
		return true
	case msgpcode.IsExt(c):
		return false
	}
	r.i--
	_, ok = r.skip() // a scalar
	return ok
}

// number reads a value that decodes to a number, as value() decodes it;
// isNum false (nothing read) for any other kind.
func (r *mpReader) number() (n encNumber, isNum, ok bool) {
	start := r.i
	c, ok := r.code()
	if !ok {
		return n, false, false
	}
	switch {
	case msgpcode.IsFixedNum(c):
		return encNumber{kind: 'i', i: int64(int8(c))}, true, true
	case c == msgpcode.Float:
		u, ok := r.n(4)
		return encNumber{kind: 'f', f: float64(math.Float32frombits(uint32(u)))}, true, ok
	case c == msgpcode.Double:
		u, ok := r.n(8)
		return encNumber{kind: 'f', f: math.Float64frombits(u)}, true, ok
	case c == msgpcode.Uint64:
		u, ok := r.n(8)
		if u > math.MaxInt64 {
			return encNumber{kind: 'u', u: u}, true, ok
		}
		return encNumber{kind: 'i', i: int64(u)}, true, ok
	case c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32,
		c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		r.i = start
		i, ok := r.int()
		return encNumber{kind: 'i', i: i}, true, ok
	}
	r.i = start
	return n, false, true
}

// encNumber is a number as saverkit compares them (its number, which is
// not exported): integers as int64 or uint64 (above MaxInt64), the others
// as float64. TestMatchEncodedAgreesWithDecoding holds the two together.
type encNumber struct {
	kind byte // 'i', 'u', 'f'
	i    int64
	u    uint64
	f    float64
}

func numberOf(v any) encNumber {
	switch x := v.(type) {
	case int64:
		return encNumber{kind: 'i', i: x}
	case uint64:
		return encNumber{kind: 'u', u: x}
	}
	return encNumber{kind: 'f', f: v.(float64)}
}

func (a encNumber) float() float64 {
	switch a.kind {
	case 'i':
		return float64(a.i)
	case 'u':
		return float64(a.u)
	}
	return a.f
}

// equal is saverkit's rule: integers exactly, a float against anything
// as float64 (NaN equal to nothing).
func (a encNumber) equal(b encNumber) bool {
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
