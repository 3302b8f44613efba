package web

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// decodeValue decodes a stored value for drawing. Raw.Value gives maps as
// map[string]any, and refuses sound bytes it cannot give as a Go value
// (ErrDecode): a map with keys of another type (map[int]string: the store
// keeps any key type in channel values and pending writes), or a msgpack
// extension type this process did not register (the program that wrote it
// did; ckpt ui and ckpt show run in another). Pages draw such a value, a
// map with its keys as they are (map[any]any), an unknown extension as its
// id and bytes (extValue), instead of failing the page; damaged bytes stay
// the store's error (ErrCorrupt).
func decodeValue(raw ckpt.Raw) (any, error) {
	v, err := raw.Value()
	if err == nil || !errors.Is(err, ckpt.ErrDecode) {
		return v, err
	}
	// ErrDecode means the bytes are one whole msgpack value within the
	// store's depth limit (Raw.Decode checked both), so this decoder
	// neither over-allocates nor recurses too deep on them.
	if lv, lerr := looseValue(raw); lerr == nil {
		return lv, nil
	}
	return nil, err
}

// extValue is an extension type this process cannot decode: drawn as its
// id and bytes.
type extValue struct {
	ID   int8
	Data []byte
}

func (e extValue) String() string { return fmt.Sprintf("ext %d: %s", e.ID, hex.EncodeToString(e.Data)) }

// MarshalJSON writes the extension as the text String gives.
func (e extValue) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", e.String())), nil }

// looseValue decodes raw with maps of any key type, first with the
// extension types this process registered, then, if one was unknown, with
// every extension but time as extValue.
func looseValue(raw ckpt.Raw) (any, error) {
	v, err := looseDecode(raw, false)
	if err != nil {
		v, err = looseDecode(raw, true)
	}
	return v, err
}

func looseDecode(raw ckpt.Raw, rawExt bool) (v any, err error) {
	defer func() {
		if r := recover(); r != nil { // msgpack v5.4.1 panics on some sound input
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	dec.UseLooseInterfaceDecoding(true) // int64, uint64 and float64, as Raw.Value gives
	return looseAny(dec, rawExt)
}

// looseAny decodes one value: maps and lists item by item (so what is
// inside them is decoded here too), with rawExt an extension as extValue
// (time as time.Time), anything else as msgpack does.
func looseAny(dec *msgpack.Decoder, rawExt bool) (any, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		return looseMap(dec, rawExt)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = looseAny(dec, rawExt); err != nil {
				return nil, err
			}
		}
		return out, nil
	case rawExt && msgpcode.IsExt(c):
		id, n, err := dec.DecodeExtHeader()
		if err != nil {
			return nil, err
		}
		data := make([]byte, n) // n is within raw: Raw.Decode checked its shape
		if err := dec.ReadFull(data); err != nil {
			return nil, err
		}
		if id == -1 {
			if t, ok := extTime(data); ok {
				return t, nil
			}
		}
		return extValue{id, data}, nil
	}
	return dec.DecodeInterfaceLoose()
}

// extTime decodes msgpack's timestamp extension (type -1): 32-bit
// seconds, 30-bit nanoseconds and 34-bit seconds, or 32-bit nanoseconds
// and 64-bit seconds.
func extTime(b []byte) (time.Time, bool) {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC(), true
	case 8:
		x := binary.BigEndian.Uint64(b)
		return time.Unix(int64(x&(1<<34-1)), int64(x>>34)).UTC(), true
	case 12:
		return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(binary.BigEndian.Uint32(b))).UTC(), true
	}
	return time.Time{}, false
}

// looseMap decodes a map with keys of any type. A key that cannot be a Go
// map key (a list, a map, a byte string) is keyed by its text.
func looseMap(dec *msgpack.Decoder, rawExt bool) (any, error) {
	n, err := dec.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[any]any, n)
	for range n {
		k, err := looseAny(dec, rawExt)
		if err != nil {
			return nil, err
		}
		switch x := k.(type) {
		case []byte:
			k = string(x)
		case []any, map[any]any:
			k = fmt.Sprint(x)
		}
		v, err := looseAny(dec, rawExt)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}
