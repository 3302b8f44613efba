package engine

// Decoding a log record's body (wal.go has the format): the mutations of
// a group whose checksum matched, refused whole if any length runs past it.

import (
	"encoding/binary"
	"errors"
)

// errBadRecord marks a record that does not decode.
var errBadRecord = errors.New("bad record")

// decodeMuts decodes a record body whose checksum matched.
func decodeMuts(body []byte) (muts []Mutation, err error) {
	d := recDecoder{b: body}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(body)) {
		d.err = errBadRecord
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var m Mutation
		m.Op = MutOp(d.byte())
		parts := d.uvarint()
		if parts > 16 {
			d.err = errBadRecord
			break
		}
		for range parts {
			m.Path = append(m.Path, d.bytes())
		}
		m.Key, m.Val, m.Seq = d.bytes(), d.bytes(), d.uvarint()
		muts = append(muts, m)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errBadRecord
	}
	return muts, d.err
}

type recDecoder struct {
	b   []byte
	err error
}

func (d *recDecoder) take(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *recDecoder) byte() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *recDecoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *recDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recDecoder) bytes() []byte { return d.take(d.uvarint()) }
