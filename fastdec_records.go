package ckpt

// The records the fast path decodes (fastdec.go has the reader): the
// checkpoint header, metadata and pending writes, each built exactly as
// unmarshal followed by normalize builds it, or declined.

import "math"

// fastCheckpointRecord decodes a checkpoint header written as a 5-array.
func fastCheckpointRecord(b []byte) (*checkpointRecord, bool) {
	rec := new(checkpointRecord)
	if !fastCheckpointRecordInto(rec, b, string(b)) {
		return nil, false
	}
	return rec, true
}

// fastCheckpointRecordInto decodes a checkpoint header into rec (which it
// overwrites), so a reader of many headers can reuse one. A parent id is
// kept in rec's own room for it. s is b as a string: the strings decoded
// are substrings of it.
func fastCheckpointRecordInto(rec *checkpointRecord, b []byte, s string) bool {
	*rec = checkpointRecord{}
	r := mpReader{b: b, s: s}
	if n, ok := r.arrayLen(); !ok || n != 5 {
		return false
	}
	v, ok := r.int()
	if !ok || v < math.MinInt || v > math.MaxInt {
		return false
	}
	rec.V = int(v)
	if rec.TS, ok = r.int(); !ok {
		return false
	}
	c, ok := r.code()
	if !ok {
		return false
	}
	p, isNil, ok := r.bytesOf(c)
	switch {
	case !ok:
		return false
	case isNil: // nil stays nil
	case len(p) == idLen:
		rec.Parent = append(rec.parent[:0], p...)
	default: // empty stays empty, not nil
		rec.Parent = append(make([]byte, 0, len(p)), p...)
	}
	if rec.Versions, ok = r.stringMap(); !ok {
		return false
	}
	n, ok := r.mapLen()
	if !ok {
		return false
	}
	if n > (len(r.b)-r.i)/2 {
		return false
	}
	if n >= 0 {
		rec.VersionsSeen = make(map[string]map[string]string, n)
		for range n {
			k, ok := r.str()
			if !ok {
				return false
			}
			if rec.VersionsSeen[k], ok = r.stringMap(); !ok {
				return false
			}
		}
	}
	return r.done()
}

// fastMetadata decodes a metadata map (nil declines: msgpack gives a nil map).
func fastMetadata(b []byte) (Metadata, bool) { return fastMetadataOf(b, string(b)) }

// fastMetadataOf is fastMetadata whose strings are substrings of s, b as a
// string.
func fastMetadataOf(b []byte, s string) (Metadata, bool) {
	r := mpReader{b: b, s: s}
	n, ok := r.mapLen()
	if !ok || n < 0 {
		return nil, false
	}
	m, ok := r.anyMap(n)
	return m, ok && r.done()
}

// writeHead reads what both kinds of pending write begin with: a 3-array,
// the channel and the task path.
func (r *mpReader) writeHead() (channel, taskPath string, ok bool) {
	if n, ok := r.arrayLen(); !ok || n != 3 {
		return "", "", false
	}
	if channel, ok = r.str(); !ok {
		return "", "", false
	}
	taskPath, ok = r.str()
	return channel, taskPath, ok
}

// fastWriteRecord decodes a plain pending write (channel, task path, the
// value kept encoded).
func fastWriteRecord(b []byte) (*writeRecord, bool) {
	r := mpReader{b: b}
	ch, tp, ok := r.writeHead()
	if !ok {
		return nil, false
	}
	raw, ok := r.skip()
	if !ok {
		return nil, false
	}
	return &writeRecord{Channel: ch, TaskPath: tp, Value: append(make([]byte, 0, len(raw)), raw...)}, r.done()
}

// fastSealedWriteRecord decodes the body of a sealed pending write.
func fastSealedWriteRecord(b []byte) (*sealedWriteRecord, bool) {
	r := mpReader{b: b}
	ch, tp, ok := r.writeHead()
	if !ok {
		return nil, false
	}
	sealed, ok := r.bytes()
	if !ok {
		return nil, false
	}
	return &sealedWriteRecord{Channel: ch, TaskPath: tp, Sealed: sealed}, r.done()
}

// fastCheckpointVersions calls fn with each channel and version a
// checkpoint record's body names, without building the record (the walks
// of threadCensus read each checkpoint for them alone: decoding it whole,
// its versions seen too, tripled the time of Threads); false when it
// declines what fastCheckpointRecordInto would not read so far, for
// decodeCheckpointBody to decode (or report).
func fastCheckpointVersions(b []byte, fn func(channel, version []byte)) bool {
	r := mpReader{b: b}
	if n, ok := r.arrayLen(); !ok || n != 5 {
		return false
	}
	for range 2 { // the record's version and time
		if _, ok := r.int(); !ok {
			return false
		}
	}
	c, ok := r.code()
	if !ok {
		return false
	}
	if _, _, ok := r.bytesOf(c); !ok { // the parent
		return false
	}
	n, ok := r.mapLen()
	if !ok || n > (len(r.b)-r.i)/2 {
		return false
	}
	for range max(n, 0) {
		ch, ok := r.rawStr()
		if !ok {
			return false
		}
		ver, ok := r.rawStr()
		if !ok {
			return false
		}
		fn(ch, ver)
	}
	return true
}

// rawStr reads a str (or bin, as str does) in place.
func (r *mpReader) rawStr() ([]byte, bool) {
	c, ok := r.code()
	if !ok {
		return nil, false
	}
	if isFixstr(c) {
		return r.fixstr(c)
	}
	p, _, ok := r.bytesOf(c)
	return p, ok
}
