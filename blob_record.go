package ckpt

// Blob records (bl/): reading one of any version, opening a sealed value,
// resolving a list reference. Moved out of delta.go, which keeps the list
// lineages and storeChannel.

import (
	"bytes"
	"fmt"
)

// blobKind splits a blob record of any version, read under key in the
// thread of seed ts, into kind and body, checking the checksum of a record
// of format 3 or later.
func blobKind(ts threadSeed, key, b []byte) (kind byte, body []byte, err error) {
	if len(b) > 0 && isVersion(b[0], blobRecordV3) {
		if b, err = checkSum("value", ts, key, b); err != nil {
			return 0, nil, err
		}
		if len(b) >= 2 && (b[1] == blobValue || b[1] == blobEmpty || b[1] == blobListRef || b[1] == blobSealed) {
			return b[1], b[2:], nil
		}
	}
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("%w: short blob record", ErrCorrupt)
	}
	switch b[0] {
	case blobRecordV3, blobRecordX, blobRecordK, blobRecordT:
	case blobRecordV1:
		if b[1] == blobValue || b[1] == blobEmpty {
			return b[1], b[2:], nil
		}
	case blobRecordV2:
		if b[1] == blobValue || b[1] == blobEmpty || b[1] == blobListRef {
			return b[1], b[2:], nil
		}
	default:
		return 0, nil, errRecordVersion("blob", b[0], fmt.Sprintf("1, 2, %d, %d, %d and %d", blobRecordV3, blobRecordX, blobRecordK, blobRecordT))
	}
	return 0, nil, fmt.Errorf("%w: blob kind %d", ErrCorrupt, b[1])
}

// openBlob is blobKind that opens a sealed value: the kind it gives is never
// blobSealed. version is the blob's, for the place the seal is bound to;
// ts is thread's seed.
func openBlob(kr *keyring, thread string, ts threadSeed, ns, channel, version string, b []byte) (kind byte, body []byte, err error) {
	key := blobKey(ns, channel, version)
	if kind, body, err = blobKind(ts, key, b); err != nil || kind != blobSealed {
		return kind, body, err
	}
	body, err = kr.open(body, placeAAD(aadBlob, thread, key))
	return blobValue, body, err
}

// encodeValueBlob is encodeBlob for a value, sealed when kr is set; ts is
// thread's seed.
func encodeValueBlob(kr *keyring, thread string, ts threadSeed, ns, channel, version string, v Raw) []byte {
	key := blobKey(ns, channel, version)
	if kr == nil {
		return encodeBlob(ts, key, v, false)
	}
	b := make([]byte, 0, 2+len(v)+sealOverhead+sumLen)
	b = append(b, blobRecordT, blobSealed)
	return appendSum(ts, key, kr.appendSealed(b, v, placeAAD(aadBlob, thread, key)))
}

// checkBlobRecord checks that b, read under key in the thread of seed ts,
// is a blob record this build reads.
func checkBlobRecord(ts threadSeed, key, b []byte) error {
	kind, body, err := blobKind(ts, key, b)
	if err != nil {
		return err
	}
	switch kind {
	case blobListRef:
		_, err = decodeListRef(body)
	case blobValue:
		if tooDeep(body) { // reads would refuse it (depth.go)
			err = fmt.Errorf("%w: %v", ErrCorrupt, errTooDeep)
		}
	}
	return err
}

// listRefOf returns the list reference blob record b, read under key in
// the thread of seed ts, holds; ErrCorrupt when it holds another kind.
func listRefOf(ts threadSeed, key, b []byte) (listRef, error) {
	kind, body, err := blobKind(ts, key, b)
	if err != nil {
		return listRef{}, err
	}
	if kind != blobListRef {
		return listRef{}, fmt.Errorf("%w: blob kind %d, not a list reference", ErrCorrupt, kind)
	}
	return decodeListRef(body)
}

// resolveBlob returns the value a blob record stands for (a copy), or
// ok=false for an empty channel. ts is thread's seed.
func resolveBlob(r reader, kr *keyring, thread string, ts threadSeed, ns, channel, version string, b []byte) (Raw, bool, error) {
	key := blobKey(ns, channel, version)
	kind, body, err := blobKind(ts, key, b)
	if err != nil {
		return nil, false, err
	}
	switch kind {
	case blobEmpty:
		return nil, false, nil
	case blobValue:
		return Raw(bytes.Clone(body)), true, nil
	case blobSealed:
		v, err := kr.open(body, placeAAD(aadBlob, thread, key))
		return v, err == nil, err
	}
	ref, err := decodeListRef(body)
	if err != nil {
		return nil, false, err
	}
	v, err := lineage{thread: thread, seed: ts, ns: ns, channel: channel, id: ref.lineage, kr: kr}.read(r, ref.count)
	return v, err == nil, err
}
