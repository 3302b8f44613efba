package ckpt

// Storing a channel value against its base version (equal, append or keyframe): the write side of delta.go's lineages, kept apart from their format and reads.

import (
	"bytes"
	"fmt"
)

// relation says how a new value relates to a stored version.
type relation int

// relate compares a new encoded value with a stored blob record, in place
// (no copy of the stored value). For relAppend, prefix is how many bytes of
// the new list's items the stored version already holds, and ref is the
// stored version (a zero lineage when it was stored whole).
//
// tail, if not nil, is filled as piecesTail fills it when the stored
// version is a lineage's and the lineage was read.
// ts is thread's seed.
func relate(r reader, kr *keyring, thread string, ts threadSeed, ns, channel, version string, stored []byte, value Raw, tail *lineageTail) (rel relation, ref listRef, prefix int, err error) {
	kind, body, err := openBlob(kr, thread, ts, ns, channel, version, stored)
	if err != nil {
		return relOther, ref, 0, err
	}
	n, hdr, isList := listHeader(value)
	switch kind {
	case blobEmpty:
		return relOther, ref, 0, nil
	case blobValue:
		if bytes.Equal(body, value) {
			return relEqual, ref, 0, nil
		}
		m, shdr, ok := listHeader(body)
		if !isList || !ok || m > n || !bytes.HasPrefix(value[hdr:], body[shdr:]) {
			return relOther, ref, 0, nil
		}
		return relAppend, listRef{count: m}, len(body) - shdr, nil
	}
	if ref, err = decodeListRef(body); err != nil {
		return relOther, ref, 0, err
	}
	if !isList || ref.count > n {
		return relOther, ref, 0, nil
	}
	items := value[hdr:]
	pos, match := 0, true
	l := lineage{thread: thread, seed: ts, ns: ns, channel: channel, id: ref.lineage, kr: kr}
	if err := l.piecesTail(r, ref.count, func(p []byte) bool {
		match = len(items)-pos >= len(p) && bytes.Equal(items[pos:pos+len(p)], p)
		pos += len(p)
		return match
	}, tail); err != nil || !match {
		return relOther, ref, 0, err
	}
	if n == ref.count && pos == len(items) {
		return relEqual, ref, pos, nil
	}
	return relAppend, ref, pos, nil
}

// storeChannel writes channel's value at version, given the blob record of
// the version it derives from (base, nil if none). A version names one value
// for ever: when it is already stored, the same logical value is shared (not
// written again) and a different one is a *VersionConflictError, returned
// before this call changes anything. Keeping the stored value silently, as
// this once did, made a fork or a re-added channel read another
// checkpoint's value with no error. ts is thread's seed.
func storeChannel(w writer, kr *keyring, thread string, ts threadSeed, ns string, b blobWrite, baseVersion string, base []byte, foldK int) error {
	blPath := threadPath(thread, bucketBlobs)
	key := blobKey(ns, b.channel, b.version)
	if stored := w.Get(blPath, key); stored != nil {
		same, err := sameContent(w, kr, thread, ts, ns, b, stored)
		if err != nil {
			return fmt.Errorf("channel %q version %q: %w", b.channel, b.version, err)
		}
		if !same {
			return &VersionConflictError{Thread: thread, NS: ns, Channel: b.channel, Version: b.version}
		}
		return nil
	}
	n, hdr, isList := listHeader(b.value)
	if b.empty {
		return w.Put(blPath, key, encodeBlob(ts, key, nil, true))
	}
	if !isList || foldK < 0 {
		return w.Put(blPath, key, encodeValueBlob(kr, thread, ts, ns, b.channel, b.version, b.value))
	}
	if base != nil {
		var tail lineageTail
		rel, ref, prefix, err := relate(w, kr, thread, ts, ns, b.channel, baseVersion, base, b.value, &tail)
		if err != nil {
			return fmt.Errorf("channel %q: base version: %w", b.channel, err)
		}
		if ref.lineage != 0 && (rel == relEqual || rel == relAppend) {
			l := lineage{thread: thread, seed: ts, ns: ns, channel: b.channel, id: ref.lineage, kr: kr}
			if rel == relEqual {
				return w.Put(blPath, key, encodeListRef(ts, key, listRef{lineage: ref.lineage, count: n}))
			}
			// relate's scan read the whole lineage when the base ends it
			// (the usual append): its end is the base's count, no scan.
			end := ref.count
			if !tail.known {
				if end, err = l.end(w); err != nil {
					return err
				}
			}
			if end == ref.count { // the base ends its lineage: append
				if err := l.appendItems(w, ref.count, n-ref.count, b.value[hdr+prefix:], foldK, tail); err != nil {
					return err
				}
				return w.Put(blPath, key, encodeListRef(ts, key, listRef{lineage: ref.lineage, count: n}))
			}
			// A fork from an older version: fall through to a keyframe.
		}
	}
	id, err := newLineage(w, thread, ns, b.channel)
	if err != nil {
		return err
	}
	if n > 0 {
		k := segmentKey(ns, b.channel, id, 0)
		if err := w.Put(threadPath(thread, bucketSegments), k, encodeSegment(kr, thread, ts, k, n, foldedFlags(0), b.value[hdr:])); err != nil {
			return err
		}
	}
	return w.Put(blPath, key, encodeListRef(ts, key, listRef{lineage: id, count: n}))
}

// sameContent reports whether the stored blob record holds the logical value
// b would store: the same bytes, or the same list however it is stored
// (whole, or as a reference into a lineage of segments), or both empty.
// ts is thread's seed.
func sameContent(r reader, kr *keyring, thread string, ts threadSeed, ns string, b blobWrite, stored []byte) (bool, error) {
	kind, _, err := blobKind(ts, blobKey(ns, b.channel, b.version), stored)
	if err != nil {
		return false, err
	}
	if b.empty || kind == blobEmpty {
		return b.empty && kind == blobEmpty, nil
	}
	rel, _, _, err := relate(r, kr, thread, ts, ns, b.channel, b.version, stored, b.value, nil)
	return rel == relEqual, err
}

// newLineage numbers a new lineage of ns's channel in thread from the ls/
// bucket's sequence, which bbolt keeps in the bucket's header under no
// checksum: a flipped byte that lowered it would hand out a lineage in
// use, and the new list's segments, summed under the same keys, would
// write over an older checkpoint's items. One seek makes sure the number
// is free for this channel, the only lineages whose keys it could meet.
func newLineage(w writer, thread, ns, channel string) (uint64, error) {
	p := threadPath(thread, bucketSegments)
	id, err := w.NextSeq(p)
	if err != nil {
		return 0, err
	}
	used := false
	if err := w.Scan(p, segmentPrefix(ns, channel, id), nil, false, func(_, _ []byte) error {
		used = true
		return errStop
	}); err != nil {
		return 0, err
	}
	if used {
		return 0, fmt.Errorf("%w: thread %q channel %q: list lineage %d, next by the list segments' sequence, is in use already (a damaged bucket header lowered the sequence)", ErrCorrupt, thread, channel, id)
	}
	return id, nil
}
