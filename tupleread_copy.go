package ckpt

// Copying a tuple out of its read transaction: every value and pending
// write of the tuple in one block, into the block a Reader keeps when the
// read is a Reader's (reader.go).

import "slices"

// copyOut copies the gathered values and pending writes out of the
// snapshot, all in one []byte: the values into values, the writes into
// out (len(t.writes) of them), their strings cut from text (t.text as a
// string).
func (t *tupleReader) copyOut(values map[string]any, text string, out []PendingWrite) {
	size := 0
	for _, p := range t.pieces {
		size += len(p)
	}
	for _, p := range t.parts {
		if p.n >= 0 {
			size += 5 // room for the list header
		}
	}
	var arena []byte
	switch {
	case t.block == nil:
		arena = make([]byte, 0, size)
	case cap(*t.block) >= size:
		arena = (*t.block)[:0]
	default:
		// An eighth more than this tuple needs: the next read of a
		// thread that grew by a step still fits.
		arena = make([]byte, 0, size+size/8)
		*t.block = arena
	}
	cut := func(start int) Raw { return Raw(arena[start:len(arena):len(arena)]) }
	for _, p := range t.parts {
		start := len(arena)
		if p.n >= 0 {
			arena = appendListHeader(arena, p.n)
		}
		for _, piece := range t.pieces[p.from:p.to] {
			arena = append(arena, piece...)
		}
		values[p.channel] = cut(start)
	}
	for i, w := range t.writes {
		start := len(arena)
		arena = append(arena, t.pieces[w.value]...)
		out[i] = PendingWrite{
			TaskID: text[w.task[0]:w.task[1]], TaskPath: text[w.path[0]:w.path[1]], Idx: w.idx,
			Channel: text[w.channel[0]:w.channel[1]], Value: cut(start),
		}
	}
	slices.SortStableFunc(out, comparePendingWrites)
}

// newTuple returns a tuple, the room for its parent's config and n
// pending writes, in one allocation for up to 4 writes (a LangGraph step
// writes a few): one allocation fewer a read than a separate slice, at
// the price of a PendingWrites slice kept alone keeping its tuple's 224
// bytes alive. The slice's capacity is n, so an append copies it.
func newTuple(n int) (*Tuple, *Config, []PendingWrite) {
	switch n {
	case 0:
		b := new(tupleBox[struct{}])
		return &b.t, &b.parent, nil
	case 1:
		b := new(tupleBox[[1]PendingWrite])
		return &b.t, &b.parent, b.w[:]
	case 2:
		b := new(tupleBox[[2]PendingWrite])
		return &b.t, &b.parent, b.w[:]
	case 3:
		b := new(tupleBox[[3]PendingWrite])
		return &b.t, &b.parent, b.w[:]
	case 4:
		b := new(tupleBox[[4]PendingWrite])
		return &b.t, &b.parent, b.w[:]
	}
	t, parent, _ := newTuple(0)
	return t, parent, make([]PendingWrite, n)
}

// tupleBox is newTuple's one allocation: W is the pending writes' room,
// an array sized exactly (struct{} for none).
type tupleBox[W any] struct {
	t      Tuple
	parent Config
	w      W
}

// textOf reads a string (nil as empty, a bin as its bytes: what msgpack
// decodes into a string) into t.text.
func (t *tupleReader) textOf(r *mpReader) ([2]int, bool) {
	c, ok := r.code()
	if !ok {
		return [2]int{}, false
	}
	p, _, ok := r.bytesOf(c)
	if !ok {
		return [2]int{}, false
	}
	return t.addText(p), true
}

func (t *tupleReader) addText(p []byte) [2]int {
	start := len(t.text)
	t.text = append(t.text, p...)
	return [2]int{start, len(t.text)}
}
