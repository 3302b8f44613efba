package web

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/vmihailenco/msgpack/v5"
)

// decodeValue decodes a stored value for drawing. Raw.Value gives maps as
// map[string]any, and a map with keys of another type (map[int]string: the
// store keeps any key type in channel values and pending writes) is
// ErrDecode there though its bytes are sound. Pages draw such a value with
// its keys as they are (map[any]any) instead of failing the page; damaged
// bytes stay the store's error (ErrCorrupt).
func decodeValue(raw ckpt.Raw) (any, error) {
	v, err := raw.Value()
	if err == nil || !errors.Is(err, ckpt.ErrDecode) {
		return v, err
	}
	// ErrDecode means the bytes are one whole msgpack value within the
	// store's depth limit (Raw.Decode checked both), so msgpack's decoder
	// neither over-allocates nor recurses too deep on them here.
	if lv, lerr := looseValue(raw); lerr == nil {
		return lv, nil
	}
	return nil, err
}

func looseValue(raw ckpt.Raw) (v any, err error) {
	defer func() {
		if r := recover(); r != nil { // msgpack v5.4.1 panics on some sound input
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	dec.UseLooseInterfaceDecoding(true) // int64, uint64 and float64, as Raw.Value gives
	dec.SetMapDecoder(looseMap)
	return dec.DecodeInterfaceLoose()
}

// looseMap decodes a map with keys of any type. A key that cannot be a Go
// map key (a list, a map, a byte string) is keyed by its text.
func looseMap(dec *msgpack.Decoder) (any, error) {
	n, err := dec.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[any]any, n)
	for range n {
		k, err := dec.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		switch x := k.(type) {
		case []byte:
			k = string(x)
		case []any, map[any]any:
			k = fmt.Sprint(x)
		}
		v, err := dec.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}
