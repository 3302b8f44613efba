package redisstore

// Values stored in Redis. Each starts with a record-version byte, as the
// bbolt store's records do, so a value's shape can change without guessing.
// User values are encoded by ckpt.EncodeValue: the same msgpack bytes the
// bbolt store writes, returned as ckpt.Raw.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ckpt-go/ckpt"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

const recordV1 byte = 1

// Blob kinds: a channel named in newVersions without a value is stored as
// "empty", so reading that version yields no value for the channel.
const (
	blobValue byte = 0
	blobEmpty byte = 1
)

// checkpointRecord is a checkpoint without its channel values (those live
// in blobs keyed by channel and version).
type checkpointRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	V            int
	TS           int64 // unix nanoseconds
	Parent       string
	Versions     map[string]string
	VersionsSeen map[string]map[string]string
}

type writeRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Channel  string
	TaskPath string
	Value    msgpack.RawMessage
}

// encodeCheckpoint builds a cp hash value: version, the blob fields the
// checkpoint reads (so the read and prune scripts find them without
// decoding msgpack in Lua), then the record.
//
//	recordV1 | u32 n | n bytes of (len16(field) | field)* | msgpack record
//
// The blob list and the record's maps are in key order, so equal records
// are equal bytes: a put sent again is known as stored by comparing bytes
// (putScript). Records written before in map order read the same.
func encodeCheckpoint(ns string, rec *checkpointRecord) ([]byte, error) {
	var list []byte
	for _, ch := range slices.Sorted(maps.Keys(rec.Versions)) {
		list = appendLen16(list, blobField(ns, ch, rec.Versions[ch]))
	}
	body, err := marshalRecord(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint versions: %v", ckpt.ErrEncode, err)
	}
	out := make([]byte, 0, 5+len(list)+len(body))
	out = append(out, recordV1)
	out = binary.BigEndian.AppendUint32(out, uint32(len(list)))
	out = append(out, list...)
	return append(out, body...), nil
}

// marshalRecord is msgpack.Marshal(rec) with every map in key order
// (msgpack's SetSortMapKeys leaves a map of maps in Go's order).
func marshalRecord(rec *checkpointRecord) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	strMap := func(m map[string]string) error {
		if m == nil {
			return enc.EncodeNil()
		}
		if err := enc.EncodeMapLen(len(m)); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := errors.Join(enc.EncodeString(k), enc.EncodeString(m[k])); err != nil {
				return err
			}
		}
		return nil
	}
	err := errors.Join(enc.EncodeArrayLen(5), enc.EncodeInt(int64(rec.V)), enc.EncodeInt(rec.TS), enc.EncodeString(rec.Parent), strMap(rec.Versions))
	if err != nil {
		return nil, err
	}
	if rec.VersionsSeen == nil {
		err = enc.EncodeNil()
	} else {
		err = enc.EncodeMapLen(len(rec.VersionsSeen))
		for _, k := range slices.Sorted(maps.Keys(rec.VersionsSeen)) {
			err = errors.Join(err, enc.EncodeString(k), strMap(rec.VersionsSeen[k]))
		}
	}
	return buf.Bytes(), err
}

func decodeCheckpoint(key, field string, b []byte) (*checkpointRecord, error) {
	if err := recordVersion(key, field, b); err != nil {
		return nil, err
	}
	if len(b) < 5 {
		return nil, corrupt(key, field, "short checkpoint value")
	}
	n := int(binary.BigEndian.Uint32(b[1:5]))
	if len(b) < 5+n {
		return nil, corrupt(key, field, "checkpoint value shorter than its blob list")
	}
	if err := ckpt.CheckNesting(b[5+n:]); err != nil { // before msgpack recurses into it
		return nil, corrupt(key, field, "checkpoint record: %v", err)
	}
	rec := new(checkpointRecord)
	if err := msgpack.Unmarshal(b[5+n:], rec); err != nil {
		return nil, corrupt(key, field, "checkpoint record: %v", err)
	}
	return rec, nil
}

func encodeMetadata(md ckpt.Metadata) ([]byte, error) {
	if md == nil {
		md = ckpt.Metadata{}
	}
	raw, err := ckpt.EncodeValue("metadata", map[string]any(md))
	if err != nil {
		return nil, err
	}
	// Metadata reads back as map[string]any, maps inside it too: a map
	// keyed by ints would be acknowledged and then unreadable. Decoding it
	// once here is the check (metadata is small; a Put costs a round trip).
	if err := ckpt.Raw(raw).Decode(&map[string]any{}); err != nil {
		return nil, fmt.Errorf("%w: metadata would not read back as map[string]any (a map key that is not a string): %v", ckpt.ErrEncode, err)
	}
	return append([]byte{recordV1}, raw...), nil
}

func decodeMetadata(key, field string, b []byte) (ckpt.Metadata, error) {
	if err := recordVersion(key, field, b); err != nil {
		return nil, err
	}
	md := ckpt.Metadata{}
	if err := ckpt.Raw(b[1:]).Decode((*map[string]any)(&md)); err != nil {
		return nil, corrupt(key, field, "metadata: %v", err)
	}
	return md, nil
}

func encodeBlob(v ckpt.Raw, empty bool) []byte {
	if empty {
		return []byte{recordV1, blobEmpty}
	}
	return append([]byte{recordV1, blobValue}, v...)
}

// decodeBlob returns the value of a blob, or ok=false for an empty marker.
func decodeBlob(key, field string, b []byte) (v ckpt.Raw, ok bool, err error) {
	if err := recordVersion(key, field, b); err != nil {
		return nil, false, err
	}
	if len(b) < 2 {
		return nil, false, corrupt(key, field, "blob without kind")
	}
	switch b[1] {
	case blobEmpty:
		return nil, false, nil
	case blobValue:
		return ckpt.Raw(b[2:]), true, nil
	}
	return nil, false, corrupt(key, field, "blob kind %d", b[1])
}

func encodeWrite(rec *writeRecord) ([]byte, error) {
	body, err := msgpack.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: write record: %v", ckpt.ErrEncode, err)
	}
	return append([]byte{recordV1}, body...), nil
}

func decodeWrite(key, field string, b []byte) (*writeRecord, error) {
	if err := recordVersion(key, field, b); err != nil {
		return nil, err
	}
	if err := ckpt.CheckNesting(b[1:]); err != nil { // before msgpack recurses into it
		return nil, corrupt(key, field, "write record: %v", err)
	}
	rec := new(writeRecord)
	if err := msgpack.Unmarshal(b[1:], rec); err != nil {
		return nil, corrupt(key, field, "write record: %v", err)
	}
	if len(rec.Value) == 0 {
		// msgpack decodes a nil value into a RawMessage field as empty,
		// not as the nil code (the store's decodeWriteRecord does the
		// same): give back the encoded nil. Records written before this
		// read the same: the nil was stored, only its reading was wrong.
		rec.Value = msgpack.RawMessage{msgpcode.Nil}
	}
	return rec, nil
}

func recordVersion(key, field string, b []byte) error {
	if len(b) == 0 {
		return corrupt(key, field, "empty value")
	}
	if b[0] != recordV1 {
		return fmt.Errorf("%w: key %q field %q: record version %d, this build reads %d", ckpt.ErrFormatVersion, key, field, b[0], recordV1)
	}
	return nil
}
