package ckpt

// Records are msgpack. Each record stored by the store starts with one
// record-version byte, so a record's shape can change without a new file
// format: a reader that meets an unknown record version says so
// (errRecordVersion: ErrFormatVersion, and ErrCorrupt, since a damaged
// version byte reads the same) instead of guessing.
//
// Checksums: record_sum.go.

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	bolt "go.etcd.io/bbolt"
)

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
func marshal(prefix []byte, v any) ([]byte, error) { return marshalSealed(prefix, 0, nil, v, false) }

// marshalRecord encodes a record stored under key in the thread of seed
// ts: its version byte, v, and the checksum, computed in the scratch buffer so sealing costs no
// extra allocation.
func marshalRecord(version byte, ts threadSeed, key []byte, v any) ([]byte, error) {
	return marshalSealed([]byte{version}, ts, key, v, true)
}

func marshalSealed(prefix []byte, ts threadSeed, key []byte, v any, seal bool) ([]byte, error) {
	b, _, err := marshalSealedFast(prefix, ts, key, v, seal)
	return b, err
}

// marshalSealedFast is marshalSealed that also reports whether the fast
// path encoded v (a generic shape: its maps are in key order).
func marshalSealedFast(prefix []byte, ts threadSeed, key []byte, v any, seal bool) (_ []byte, fast bool, _ error) {
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	pe.buf.Write(prefix)
	if b, ok := appendFast(pe.buf.Bytes(), v); ok {
		if seal {
			b = appendSum(ts, key, b)
		}
		if len(b) > bolt.MaxValueSize { // bbolt would refuse it after the ack
			return nil, true, fmt.Errorf("record of %d bytes: over bbolt's largest value (%d)", len(b), bolt.MaxValueSize)
		}
		out := bytes.Clone(b)
		// Keep the grown scratch space, in the same Buffer: a new one
		// per call was an allocation per record.
		*pe.buf = *bytes.NewBuffer(b[:0])
		pe.enc.ResetWriter(pe.buf)
		return out, true, nil
	}
	pe.buf.Truncate(len(prefix))
	if err := pe.enc.Encode(v); err != nil {
		return nil, false, err
	}
	b := pe.buf.Bytes()
	if seal {
		b = appendSum(ts, key, b)
	}
	if len(b) > bolt.MaxValueSize { // bbolt would refuse it after the ack
		return nil, false, fmt.Errorf("record of %d bytes: over bbolt's largest value (%d)", len(b), bolt.MaxValueSize)
	}
	return bytes.Clone(b), false, nil
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

// pooledDecoder is a msgpack Decoder with the bytes.Reader it reads from:
// a new pair per decode was two allocations, and the Decoder's scratch
// buffer a third (it grows to the longest string read, so a reused one
// rarely allocates again).
type pooledDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	pd := &pooledDecoder{}
	pd.dec = msgpack.NewDecoder(&pd.r)
	return pd
}}

// maxPooledDecode is the longest value whose decoder goes back to the
// pool: the decoder keeps its scratch buffer, as long as the longest
// string it read, and a pool of them should not hold megabytes.
const maxPooledDecode = 64 << 10

// decodeMsgpack decodes b into v with a pooled decoder. The decoder is
// reset in full (flags, struct tag, dict, map decoder) before each use,
// and goes back to the pool only after a decode that succeeded: one that
// failed half-way may leave state behind that Reset does not clear (the
// recording buffer of a RawMessage being read), so it is dropped.
func decodeMsgpack(b []byte, v any) (err error) {
	// msgpack v5.4.1 panics on some sound bytes for some targets (nil
	// into a struct field with a decoding method, such as time.Time: its
	// decodeNilValue calls reflect's IsNil on a struct). The bytes did not
	// fit the target: an error, not a panic through Decode. The decoder
	// is dropped with its state.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	pd := decPool.Get().(*pooledDecoder)
	pd.r.Reset(b)
	pd.dec.Reset(&pd.r)
	pd.dec.SetCustomStructTag("json") // honour json tags when no msgpack tag
	err = pd.dec.Decode(v)
	if err == nil && len(b) <= maxPooledDecode {
		pd.r.Reset(nil) // b may be a page of bbolt's map: hold no reference
		decPool.Put(pd)
	}
	return err
}

// unmarshal decodes b into v. Generic targets (*any, *map[string]any,
// *[]any) are normalized, so callers see one shape whatever encoding the
// writer picked: integers as int64 (uint64 only above MaxInt64), floats as
// float64, byte strings as []byte. b nesting deeper than maxDepth is
// errTooDeep, before msgpack's decoder recurses into it, and b whose
// headers claim more than its bytes hold errMalformed, before the decoder
// allocates for them (checkShape, depth.go).
func unmarshal(b []byte, v any) error {
	if fastUnmarshal(b, v) { // typed targets (typeddec.go)
		return nil
	}
	if err := checkShape(b); err != nil {
		return err
	}
	if err := decodeMsgpack(b, v); err != nil {
		return err
	}
	normalizeTarget(v)
	return nil
}

// normalizeTarget normalizes what msgpack decoded into a generic target.
func normalizeTarget(v any) {
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
		if len(r) == 0 {
			return Raw{msgpcode.Nil}, nil // the zero Raw is nil (Raw.Decode)
		}
		if err := checkValueLen(what, len(r)); err != nil { // before any copy
			return nil, err
		}
		if err := lockedKey(r); err != nil {
			return nil, fmt.Errorf("%s: a sealed value read without its key: %w", what(), err)
		}
		// Stored as is: bytes a read would call damage are refused here,
		// not acknowledged (depth too).
		if err := wholeValue(r); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrEncode, what(), err)
		}
		return r, nil
	}
	b, fast, err := marshalSealedFast(nil, 0, nil, v, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s%s: %v", ErrEncode, what(), badPath(reflect.ValueOf(v)), err)
	}
	if !fast && holdsUnsortedMap(v, 0) {
		b = sortMaps(b) // equal values, equal bytes (sortmaps.go)
	}
	if err := checkValueLen(what, len(b)); err != nil {
		return nil, err
	}
	// Reads would refuse it (too deep), or read another value: a type's
	// own EncodeMsgpack may write bytes that are not a value, or two
	// values, which the Decoder reads as the first and its rest ignored
	// (depth.go).
	if err := wholeValue(b); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, what(), err)
	}
	return b, nil
}

// maxValueLen is the largest encoded value (a channel value, a pending
// write) a write accepts: bbolt stores no value over bolt.MaxValueSize
// (2 GiB - 2), and a record adds its version, sum and, sealed, the
// cipher's nonce and tag. A larger value was logged and acknowledged,
// and then the applier could not put it into bbolt: the store failed
// after the ack, with a logged group no Open could apply.
const maxValueLen = bolt.MaxValueSize - 64<<10

// checkValueLen refuses a value of n encoded bytes over maxValueLen
// (ErrInvalidConfig), before the write copies or logs anything.
func checkValueLen(what func() string, n int) error {
	if n > maxValueLen {
		return fmt.Errorf("%w: %s is %d bytes encoded, the limit is %d (bbolt's largest value, less a record's framing)", ErrInvalidConfig, what(), n, maxValueLen)
	}
	return nil
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

// encodeCheckpointRecord encodes a checkpoint record stored under key in
// the thread of seed ts.
func encodeCheckpointRecord(ts threadSeed, key []byte, rec *checkpointRecord) ([]byte, error) {
	return marshalRecord(checkpointRecordT, ts, key, rec)
}

// decodeCheckpointRecord decodes checkpoint record b read under key in the
// thread of seed ts.
func decodeCheckpointRecord(ts threadSeed, key, b []byte) (*checkpointRecord, error) {
	rec := new(checkpointRecord)
	if err := decodeCheckpointRecordInto(rec, ts, key, b); err != nil {
		return nil, err
	}
	return rec, nil
}

// decodeCheckpointRecordInto is decodeCheckpointRecord into rec, which it
// overwrites (a reader of many records reuses one).
func decodeCheckpointRecordInto(rec *checkpointRecord, ts threadSeed, key, b []byte) error {
	body, err := recordBody("checkpoint", ts, key, b, checkpointRecordV1, checkpointRecordV2)
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
	if !msgpackArray(body) {
		// Written as an array (as_array) in every format: a map would
		// decode by field names into an empty record, and is another
		// record's body read in this one's place (a metadata record
		// whose sum holds, under a damaged bucket header of the thread
		// that names md's pages: TestH235CheckpointBucket...).
		return fmt.Errorf("%w: checkpoint record: not an array", ErrCorrupt)
	}
	if err := unmarshal(body, rec); err != nil {
		return fmt.Errorf("%w: checkpoint record: %v", ErrCorrupt, err)
	}
	return nil
}

// msgpackArray reports whether b starts with a msgpack array header.
func msgpackArray(b []byte) bool {
	return len(b) > 0 && (b[0]&0xf0 == 0x90 || b[0] == 0xdc || b[0] == 0xdd)
}

// encodeMetadata encodes a metadata record stored under key in the thread
// of seed ts.
func encodeMetadata(ts threadSeed, key []byte, m Metadata) ([]byte, error) {
	if m == nil {
		m = Metadata{}
	}
	b, fast, err := marshalSealedFast([]byte{metadataRecordT}, ts, key, map[string]any(m), true)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata%s: %v", ErrEncode, badPath(reflect.ValueOf(map[string]any(m))), err)
	}
	if !fast && holdsUnsortedMap(map[string]any(m), 0) {
		// Equal metadata, equal bytes (sortmaps.go): a put sent again
		// is known as stored by them.
		body := sortMaps(b[1 : len(b)-sumLen])
		b = appendSum(ts, key, append([]byte{metadataRecordT}, body...))
	}
	// Reads would refuse it (too deep), or read another value (a custom
	// encoder that wrote no value, or two): depth.go.
	if err := wholeValue(b[1 : len(b)-sumLen]); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrEncode, err)
	}
	if nonStringMapKey(b[1 : len(b)-sumLen]) { // reads could not decode it (mapkeys.go)
		return nil, fmt.Errorf("%w: metadata: %v", ErrEncode, errMapKey)
	}
	return b, nil
}

// decodeMetadata decodes metadata record b read under key in the thread
// of seed ts.
func decodeMetadata(ts threadSeed, key, b []byte) (Metadata, error) {
	body, err := recordBody("metadata", ts, key, b, metadataRecordV1, metadataRecordV2)
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
// writes (ts is the thread's seed); with a keyring its value is sealed
// for that place.
func encodeWriteRecord(kr *keyring, thread string, ts threadSeed, key []byte, rec *writeRecord) ([]byte, error) {
	if kr == nil {
		return marshalRecord(writeRecordT, ts, key, rec)
	}
	return marshalRecord(writeRecordT4, ts, key, &sealedWriteRecord{
		Channel: rec.Channel, TaskPath: rec.TaskPath,
		Sealed: kr.appendSealed(nil, rec.Value, placeAAD(aadWrite, thread, key)),
	})
}

// openWriteRecord decodes the pending write stored at key of thread's
// writes (ts is the thread's seed), opening a sealed value.
func openWriteRecord(kr *keyring, thread string, ts threadSeed, key, b []byte) (*writeRecord, error) {
	rec, err := decodeWriteRecord(ts, key, b)
	if err != nil || rec.sealed == nil {
		return rec, err
	}
	if rec.Value, err = kr.open(rec.sealed, placeAAD(aadWrite, thread, key)); err != nil {
		return nil, err
	}
	return rec, nil
}

// decodeWriteRecord decodes a write record read under key in the thread of
// seed ts; of a sealed one it gives the envelope (rec.sealed) and no
// value: openWriteRecord opens it.
func decodeWriteRecord(ts threadSeed, key, b []byte) (*writeRecord, error) {
	if len(b) > 0 && isVersion(b[0], writeRecordV4) {
		body, err := checkSum("write", ts, key, b)
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
	body, err := recordBody("write", ts, key, b, writeRecordV1, writeRecordV2)
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

// encodeBlob encodes a value stored under key in the thread of seed ts; a
// nil value with empty=true marks the channel empty at that version.
func encodeBlob(ts threadSeed, key []byte, v Raw, empty bool) []byte {
	if empty {
		return appendSum(ts, key, append(make([]byte, 0, 2+sumLen), blobRecordT, blobEmpty))
	}
	b := make([]byte, 0, 2+len(v)+sumLen)
	b = append(b, blobRecordT, blobValue)
	return appendSum(ts, key, append(b, v...))
}
