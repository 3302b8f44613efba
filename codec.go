package ckpt

// Records are msgpack. Each record stored by the store starts with one
// record-version byte, so a record's shape can change without a new file
// format: a reader that meets an unknown record version says so
// (ErrFormatVersion) instead of guessing.
//
// Checksums. bbolt keeps none, so a flipped bit in a data page used to read
// back as a wrong value with no error. Since format version 3 every record
// (checkpoint, metadata, pending write, channel value, list segment) ends
// with a 32-bit sum of all its bytes before it, the version byte included:
// [version][body][sum little-endian]. Every read checks it and a mismatch is
// ErrCorrupt; the caller names thread, checkpoint, channel and version. It
// guards against damage, not against an attacker. 4 bytes a record is small
// beside the ~40-byte keys.
//
// Which sum a record carries is said by its version byte (sumOf): format 3
// wrote CRC-32C (Castagnoli), format 4 writes the low 32 bits of XXH3-64
// (github.com/zeebo/xxh3), in the versions of format 3 with the two top bits
// set (sumXXH3). Why the change: a read of R1 checks about 26 records, most
// of them under 504 bytes, where Go's CRC-32C runs one dependent stream of
// crc32q (3 cycles of latency per 8 bytes) instead of its three-way loop;
// XXH3 hashes 30-700 bytes in about half the time and 4 KB in about a third
// (amd64 AVX2/SSE2 and arm64 NEON assembly for the long inputs, plain Go
// multiplies below 240 bytes). On R1 that took the checks from 4-8% of a
// read's CPU to 1-2% (bench/RESULTS.md, "Checksums: XXH3"). Truncated to 32
// bits, a random change goes unseen with probability 2^-32, as with a CRC;
// what XXH3 gives up is the CRC's certainty for bursts of up to 32 bits
// (caught with the same 2^-32 odds instead), not worth 3-5% of every read.
// Records of format 3 keep their CRC-32C and are read as they are.
//
// The checksummed record versions are chosen so that no single flipped bit
// of the version byte turns a checked record into an old, unchecked one
// (blob records skip version 3, one bit from both 1 and 2; the XXH3
// versions 0xc2 and 0xc4 are at least two bits from 1 and 2). Old versions
// are still read, for files written before format 3 (read-only opens, and
// the upgrade, which rewrites them: upgrade.go).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"github.com/zeebo/xxh3"
)

// Record versions, one per record kind. The V1 records (and blob and
// segment records below format 3) carry no checksum.
const (
	checkpointRecordV1 byte = 1
	metadataRecordV1   byte = 1
	writeRecordV1      byte = 1
	blobRecordV1       byte = 1

	// Checksummed versions (format 3).
	checkpointRecordV2 byte = 2
	metadataRecordV2   byte = 2
	writeRecordV2      byte = 2

	// writeRecordV4 is a checksummed write record whose value is sealed
	// (Options.Encryption, crypt.go). 4, not 3: see blobRecordV3.
	writeRecordV4 byte = 4

	// Format 4: the same records with an XXH3 sum (sumXXH3).
	checkpointRecordX = checkpointRecordV2 | sumXXH3
	metadataRecordX   = metadataRecordV2 | sumXXH3
	writeRecordX      = writeRecordV2 | sumXXH3
	writeRecordX4     = writeRecordV4 | sumXXH3
)

// sumXXH3, set in a record's version byte, says that the record's sum is
// XXH3 (format 4), not CRC-32C (format 3). Both bits: a single flipped bit
// of the version byte then gives a version no build writes
// (ErrFormatVersion, never a record read unchecked), and the sum covers the
// version byte, so one that still names a checked kind fails its check.
const sumXXH3 byte = 0xc0

// sumLen is the size of the sum that ends every checksummed record.
const sumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sumOf computes the sum that record b (its version byte first, without
// its sum) carries: XXH3-64's low 32 bits or CRC-32C, by the version byte.
func sumOf(b []byte) uint32 {
	if len(b) > 0 && b[0]&sumXXH3 == sumXXH3 {
		return uint32(xxh3.Hash(b))
	}
	return crc32.Checksum(b, castagnoli)
}

// isVersion reports whether version is the format-3 checksummed version v
// or its format-4 twin (v|sumXXH3).
func isVersion(version, v byte) bool { return version == v || version == v|sumXXH3 }

// appendSum appends the sum of b (the whole record so far, its version
// byte first).
func appendSum(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, sumOf(b))
}

// checkSum verifies the checksum at the end of a checksummed record and
// returns the record without it.
func checkSum(kind string, b []byte) ([]byte, error) {
	if len(b) < 1+sumLen {
		return nil, fmt.Errorf("%w: %s record of %d bytes is too short for its checksum", ErrCorrupt, kind, len(b))
	}
	n := len(b) - sumLen
	if want, got := binary.LittleEndian.Uint32(b[n:]), sumOf(b[:n]); want != got {
		return nil, fmt.Errorf("%w: %s record checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, kind, want, got)
	}
	return b[:n], nil
}

// Blob kinds: a channel named in newVersions without a value is stored as
// "empty", so reading that version yields no value for the channel.
const (
	blobValue byte = 0
	blobEmpty byte = 1
)

// checkpointRecord is the stored header of a checkpoint. Channel values are
// not in it: they live in blobs keyed by (channel, version).
type checkpointRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	V            int
	TS           int64 // unix nanoseconds
	Parent       []byte
	Versions     map[string]string
	VersionsSeen map[string]map[string]string

	parent [idLen]byte // room for Parent, so decoding it costs nothing (not encoded)
}

type writeRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Channel  string
	TaskPath string
	Value    msgpack.RawMessage

	sealed []byte // the envelope of Value, for a writeRecordV4 (not encoded)
}

// sealedWriteRecord is the body of a writeRecordV4: the value sealed, the
// channel and task path readable.
type sealedWriteRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Channel  string
	TaskPath string
	Sealed   []byte
}

var encPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // equal values give equal bytes
	enc.UseCompactInts(true)
	// Not UseCompactFloats: it writes 3.0 as the integer 3, so a float
	// would come back as an int64.
	enc.SetCustomStructTag("json") // honour json tags when no msgpack tag
	return &pooledEncoder{buf: &buf, enc: enc}
}}

type pooledEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// marshal encodes v deterministically, with prefix bytes in front. The
// generic shapes take the fast path (fastenc.go); the bytes are the same.
func marshal(prefix []byte, v any) ([]byte, error) { return marshalSealed(prefix, v, false) }

// marshalRecord encodes a record: its version byte, v, and the checksum,
// computed in the scratch buffer so sealing costs no extra allocation.
func marshalRecord(version byte, v any) ([]byte, error) {
	return marshalSealed([]byte{version}, v, true)
}

func marshalSealed(prefix []byte, v any, seal bool) ([]byte, error) {
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	pe.buf.Write(prefix)
	if b, ok := appendFast(pe.buf.Bytes(), v); ok {
		if seal {
			b = appendSum(b)
		}
		out := bytes.Clone(b)
		// Keep the grown scratch space, in the same Buffer: a new one
		// per call was an allocation per record.
		*pe.buf = *bytes.NewBuffer(b[:0])
		pe.enc.ResetWriter(pe.buf)
		return out, nil
	}
	pe.buf.Truncate(len(prefix))
	if err := pe.enc.Encode(v); err != nil {
		return nil, err
	}
	b := pe.buf.Bytes()
	if seal {
		b = appendSum(b)
	}
	return bytes.Clone(b), nil
}

// marshalSlow encodes with msgpack only (for testing the fast path).
func marshalSlow(v any) ([]byte, error) {
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	if err := pe.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(pe.buf.Bytes()), nil
}

func newDecoder(b []byte) *msgpack.Decoder {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.SetCustomStructTag("json")
	return dec
}

// unmarshal decodes b into v. Generic targets (*any, *map[string]any,
// *[]any) are normalized, so callers see one shape whatever encoding the
// writer picked: integers as int64 (uint64 only above MaxInt64), floats as
// float64, byte strings as []byte. b nesting deeper than maxDepth is
// errTooDeep, before msgpack's decoder recurses into it (depth.go).
func unmarshal(b []byte, v any) error {
	if tooDeep(b) {
		return errTooDeep
	}
	if err := newDecoder(b).Decode(v); err != nil {
		return err
	}
	switch p := v.(type) {
	case *any:
		*p = normalize(*p)
	case *map[string]any:
		for k, x := range *p {
			(*p)[k] = normalize(x)
		}
	case *[]any:
		for i, x := range *p {
			(*p)[i] = normalize(x)
		}
	}
	return nil
}

// normalize is saverkit.Normalize: the kit's filters and this decoder
// agree on value shapes by sharing it.
func normalize(v any) any { return saverkit.Normalize(v) }

// encodeValue encodes one user value (a channel value, a pending write's
// value). An error names the path inside the value that failed.
func encodeValue(what string, v any) (Raw, error) {
	return encodeDescribed(func() string { return what }, v)
}

// encodeDescribed is encodeValue with what built only for an error: Put
// encodes every channel and write, and a description built for each was
// an allocation each.
func encodeDescribed(what func() string, v any) (Raw, error) {
	if r, ok := v.(Raw); ok {
		if err := lockedKey(r); err != nil {
			return nil, fmt.Errorf("%s: a sealed value read without its key: %w", what(), err)
		}
		if tooDeep(r) {
			return nil, fmt.Errorf("%w: %s: %v", ErrEncode, what(), errTooDeep)
		}
		return r, nil
	}
	b, err := marshal(nil, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s%s: %v", ErrEncode, what(), badPath(reflect.ValueOf(v)), err)
	}
	if tooDeep(b) { // reads would refuse it (depth.go)
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, what(), errTooDeep)
	}
	return b, nil
}

// badPath finds the innermost part of v that does not encode, for error
// messages such as `channel "messages"[2].content`. It runs only after an
// encode failed.
func badPath(v reflect.Value) string {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() {
		return ""
	}
	fails := func(x reflect.Value) bool {
		if !x.IsValid() || !x.CanInterface() {
			return false
		}
		_, err := marshal(nil, x.Interface())
		return err != nil
	}
	switch v.Kind() {
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			if e := v.MapIndex(k); fails(e) {
				return "." + fmt.Sprint(k.Interface()) + badPath(e)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if e := v.Index(i); fails(e) {
				return "[" + strconv.Itoa(i) + "]" + badPath(e)
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if e := v.Field(i); fails(e) {
				return "." + t.Field(i).Name + badPath(e)
			}
		}
	}
	return ""
}

// Raw is one value as stored: deterministic msgpack. Values read from the
// store come back as Raw and are decoded only when asked, so reading one
// channel does not decode the others. A Raw handed back to Put is stored as
// is, without re-encoding.
type Raw []byte

// Decode decodes the value into v (a pointer). Decoded into an `any` (or a
// map[string]any or []any), integers become int64 (uint64 only above
// MaxInt64), floats float64, maps map[string]any.
//
// Sound bytes that do not fit v (a string into an int, a list into a
// struct, v not a pointer) are ErrDecode naming the stored kind and the
// target type: the caller asked for the wrong type, the file is fine. Only
// bytes that are not one whole msgpack value are ErrCorrupt.
func (r Raw) Decode(v any) error {
	if err := lockedKey(r); err != nil {
		return err // sealed, read without keys (crypt.go)
	}
	if err := unmarshal(r, v); err != nil {
		if errors.Is(err, errTooDeep) {
			return fmt.Errorf("%w: decode value: %v", ErrCorrupt, err)
		}
		if kind, ok := storedKind(r); ok {
			return fmt.Errorf("%w: stored %s into %s: %v", ErrDecode, kind, targetName(v), err)
		}
		return fmt.Errorf("%w: decode value: %v", ErrCorrupt, err)
	}
	return nil
}

// storedKind names the kind of the msgpack value b holds, or ok=false when
// b is not exactly one well-formed msgpack value (then it is damaged).
func storedKind(b []byte) (kind string, ok bool) {
	if len(b) == 0 || tooDeep(b) {
		return "", false
	}
	r := bytes.NewReader(b)
	if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
		return "", false
	}
	switch c := b[0]; {
	case c <= 0x7f || c >= 0xe0 || c >= 0xcc && c <= 0xd3:
		return "integer", true
	case c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf:
		return "map", true
	case c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd:
		return "list", true
	case c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb:
		return "string", true
	case c == 0xc0:
		return "nil", true
	case c == 0xc2 || c == 0xc3:
		return "bool", true
	case c >= 0xc4 && c <= 0xc6:
		return "bytes", true
	case c == 0xca || c == 0xcb:
		return "float", true
	case c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8:
		return "extension (e.g. time)", true
	}
	return "", false
}

// targetName names the Go type a value was decoded into.
func targetName(v any) string {
	t := reflect.TypeOf(v)
	switch {
	case t == nil:
		return "nil (want a pointer)"
	case t.Kind() != reflect.Pointer:
		return t.String() + " (not a pointer)"
	}
	return t.Elem().String()
}

// Value decodes the value into a generic Go value (map[string]any, []any,
// string, int64, float64, bool, []byte or nil).
func (r Raw) Value() (any, error) {
	var v any
	err := r.Decode(&v)
	return v, err
}

// EncodeMsgpack writes the stored bytes unchanged. It implements
// msgpack.CustomEncoder (and DecodeMsgpack msgpack.CustomDecoder), so a Raw
// read back and nested in a new value (a map, a struct field, metadata) is
// stored as the value it holds, not as a byte string; apps do not call it.
func (r Raw) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := lockedKey(r); err != nil {
		return err
	}
	return enc.Encode(msgpack.RawMessage(r))
}

// DecodeMsgpack keeps the encoded bytes.
func (r *Raw) DecodeMsgpack(dec *msgpack.Decoder) error {
	var m msgpack.RawMessage
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*r = Raw(m)
	return nil
}

func encodeCheckpointRecord(rec *checkpointRecord) ([]byte, error) {
	return marshalRecord(checkpointRecordX, rec)
}

func decodeCheckpointRecord(b []byte) (*checkpointRecord, error) {
	rec := new(checkpointRecord)
	if err := decodeCheckpointRecordInto(rec, b); err != nil {
		return nil, err
	}
	return rec, nil
}

// decodeCheckpointRecordInto is decodeCheckpointRecord into rec, which it
// overwrites (a reader of many records reuses one).
func decodeCheckpointRecordInto(rec *checkpointRecord, b []byte) error {
	body, err := recordBody("checkpoint", b, checkpointRecordV1, checkpointRecordV2)
	if err != nil {
		return err
	}
	return decodeCheckpointBody(rec, body, string(body))
}

// decodeCheckpointBody decodes the body of a checkpoint record (what
// recordBody returned) into rec; s is body as a string.
func decodeCheckpointBody(rec *checkpointRecord, body []byte, s string) error {
	if fastCheckpointRecordInto(rec, body, s) {
		return nil
	}
	*rec = checkpointRecord{}
	if err := unmarshal(body, rec); err != nil {
		return fmt.Errorf("%w: checkpoint record: %v", ErrCorrupt, err)
	}
	return nil
}

func encodeMetadata(m Metadata) ([]byte, error) {
	if m == nil {
		m = Metadata{}
	}
	b, err := marshalRecord(metadataRecordX, map[string]any(m))
	if err != nil {
		return nil, fmt.Errorf("%w: metadata%s: %v", ErrEncode, badPath(reflect.ValueOf(map[string]any(m))), err)
	}
	if tooDeep(b[1 : len(b)-sumLen]) { // reads would refuse it (depth.go)
		return nil, fmt.Errorf("%w: metadata: %v", ErrEncode, errTooDeep)
	}
	return b, nil
}

func decodeMetadata(b []byte) (Metadata, error) {
	body, err := recordBody("metadata", b, metadataRecordV1, metadataRecordV2)
	if err != nil {
		return nil, err
	}
	return decodeMetadataBody(body, string(body))
}

// decodeMetadataBody decodes the body of a metadata record; s is body as a
// string.
func decodeMetadataBody(body []byte, s string) (Metadata, error) {
	if m, ok := fastMetadataOf(body, s); ok {
		return m, nil
	}
	m := Metadata{}
	if err := unmarshal(body, (*map[string]any)(&m)); err != nil {
		return nil, fmt.Errorf("%w: metadata record: %v", ErrCorrupt, err)
	}
	return m, nil
}

// encodeWriteRecord encodes a pending write stored at key of thread's
// writes; with a keyring its value is sealed for that place.
func encodeWriteRecord(kr *keyring, thread string, key []byte, rec *writeRecord) ([]byte, error) {
	if kr == nil {
		return marshalRecord(writeRecordX, rec)
	}
	return marshalRecord(writeRecordX4, &sealedWriteRecord{
		Channel: rec.Channel, TaskPath: rec.TaskPath,
		Sealed: kr.appendSealed(nil, rec.Value, placeAAD(aadWrite, thread, key)),
	})
}

// openWriteRecord decodes the pending write stored at key of thread's
// writes, opening a sealed value.
func openWriteRecord(kr *keyring, thread string, key, b []byte) (*writeRecord, error) {
	rec, err := decodeWriteRecord(b)
	if err != nil || rec.sealed == nil {
		return rec, err
	}
	if rec.Value, err = kr.open(rec.sealed, placeAAD(aadWrite, thread, key)); err != nil {
		return nil, err
	}
	return rec, nil
}

// decodeWriteRecord decodes a write record; of a sealed one it gives the
// envelope (rec.sealed) and no value: openWriteRecord opens it.
func decodeWriteRecord(b []byte) (*writeRecord, error) {
	if len(b) > 0 && isVersion(b[0], writeRecordV4) {
		body, err := checkSum("write", b)
		if err != nil {
			return nil, err
		}
		sr, ok := fastSealedWriteRecord(body[1:])
		if !ok {
			sr = new(sealedWriteRecord)
			if err := unmarshal(body[1:], sr); err != nil {
				return nil, fmt.Errorf("%w: write record: %v", ErrCorrupt, err)
			}
		}
		if _, err := envelopeKey(sr.Sealed); err != nil {
			return nil, err
		}
		return &writeRecord{Channel: sr.Channel, TaskPath: sr.TaskPath, sealed: sr.Sealed}, nil
	}
	body, err := recordBody("write", b, writeRecordV1, writeRecordV2)
	if err != nil {
		return nil, err
	}
	if rec, ok := fastWriteRecord(body); ok {
		return rec, nil
	}
	rec := new(writeRecord)
	if err := unmarshal(body, rec); err != nil {
		return nil, fmt.Errorf("%w: write record: %v", ErrCorrupt, err)
	}
	if len(rec.Value) == 0 {
		// msgpack decodes a nil value into a RawMessage field as empty,
		// not as the nil code: give back the encoded nil.
		rec.Value = msgpack.RawMessage{msgpcode.Nil}
	}
	return rec, nil
}

// encodeBlob stores an encoded value; a nil value with empty=true marks the
// channel empty at that version.
func encodeBlob(v Raw, empty bool) []byte {
	if empty {
		return appendSum(append(make([]byte, 0, 2+sumLen), blobRecordX, blobEmpty))
	}
	b := make([]byte, 0, 2+len(v)+sumLen)
	b = append(b, blobRecordX, blobValue)
	return appendSum(append(b, v...))
}

// recordBody returns the body of a record of version old (no checksum) or
// sealed or sealed|sumXXH3 (checksum checked and cut off).
func recordBody(kind string, b []byte, old, sealed byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty %s record", ErrCorrupt, kind)
	}
	switch b[0] {
	case sealed, sealed | sumXXH3:
		body, err := checkSum(kind, b)
		if err != nil {
			return nil, err
		}
		return body[1:], nil
	case old:
		return b[1:], nil
	}
	return nil, fmt.Errorf("%w: %s record version %d, this build reads %d, %d and %d", ErrFormatVersion, kind, b[0], old, sealed, sealed|sumXXH3)
}
