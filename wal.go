package ckpt

// The write-ahead log: each group of writes is one record appended to the
// file beside the store (path + "-wal") and fsync'd once, which is all a
// Sync write waits for. bbolt pays two fsyncs and writes every page a group
// touches; the log pays one fsync and writes the changed bytes. A
// background applier (applier.go) replays the records into bbolt in large
// batches, and the read overlay (overlay.go) shows readers what is logged
// but not applied yet.
//
// Record format (see also bucket_layout.go):
//
//	len u32 | crc32c(body) u32 | body
//	body = gen u64 | count uvarint | count x mutation
//	mutation = op u8 | parts uvarint | parts x (len uvarint | name)
//	           | len uvarint | key | len uvarint | value | seq uvarint
//
// gen numbers the groups 1, 2, 3, ... across the life of the file; bbolt's
// meta bucket records the last gen applied, in the transaction that
// applies it. Recovery replays the records that follow it with consecutive
// gens and a good checksum, and stops at the first that does not: a torn
// append, or an older record left behind after the log was rewritten from
// its start. The log is rewritten from its start whenever everything in it
// is applied, and removed by a clean Close.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

type mutOp uint8

const (
	mutPut  mutOp = 1 + iota // put key=val in path (creating buckets)
	mutDel                   // delete key from path
	mutDrop                  // drop the bucket at path
	mutSeq                   // raise path's sequence to seq (creating buckets)
)

// mutation is one logged change, replayed through a writer.
type mutation struct {
	op       mutOp
	path     bucketPath
	key, val []byte
	seq      uint64
}

func (m *mutation) replay(w writer) error {
	switch m.op {
	case mutPut:
		return w.put(m.path, m.key, m.val)
	case mutDel:
		return w.del(m.path, m.key)
	case mutDrop:
		return w.dropBucket(m.path)
	case mutSeq:
		return w.raiseSeq(m.path, m.seq)
	}
	return fmt.Errorf("%w: write-ahead log: unknown change %d", ErrCorrupt, m.op)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const walHeader = 8 // len u32 | crc u32

// appendRecord encodes one group's mutations as a log record.
func appendRecord(b []byte, gen uint64, muts []mutation) []byte {
	start := len(b)
	b = append(b, make([]byte, walHeader)...)
	b = binary.BigEndian.AppendUint64(b, gen)
	b = binary.AppendUvarint(b, uint64(len(muts)))
	for i := range muts {
		m := &muts[i]
		b = append(b, byte(m.op))
		b = binary.AppendUvarint(b, uint64(len(m.path)))
		for _, name := range m.path {
			b = appendBytes(b, name)
		}
		b = appendBytes(b, m.key)
		b = appendBytes(b, m.val)
		b = binary.AppendUvarint(b, m.seq)
	}
	body := b[start+walHeader:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(body, crcTable))
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// errBadRecord ends recovery at a record that is torn or not the next.
var errBadRecord = errors.New("bad record")

// decodeBody decodes a record body whose checksum matched.
func decodeBody(body []byte) (gen uint64, muts []mutation, err error) {
	d := recDecoder{b: body}
	gen = d.u64()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(body)) {
		d.err = errBadRecord
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var m mutation
		m.op = mutOp(d.byte())
		parts := d.uvarint()
		if parts > 16 {
			d.err = errBadRecord
			break
		}
		for range parts {
			m.path = append(m.path, d.bytes())
		}
		m.key, m.val, m.seq = d.bytes(), d.bytes(), d.uvarint()
		muts = append(muts, m)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errBadRecord
	}
	return gen, muts, d.err
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

// walGroup is one logged group: its changes, and (for pruning the overlay)
// the overlay keys it set.
type walGroup struct {
	gen  uint64
	muts []mutation
	keys [][]byte
	size int // bytes in the log
}

// readLog returns the groups logged after gen applied, in order. It reads
// records from the start of the file while each has a good checksum and
// the gen after the one before: a torn append ends that run, and so does an
// older record left behind after the log was rewound to its start (its gen
// is lower). Records bbolt already holds are skipped; a run that does not
// reach applied+1 means logged groups are missing (ErrCorrupt). A missing
// file holds none.
func readLog(path string, applied uint64) ([]walGroup, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: read write-ahead log: %w", err)
	}
	var groups []walGroup
	var prev uint64
	for first := true; len(data) >= walHeader; first = false {
		n := uint64(binary.BigEndian.Uint32(data))
		if n > uint64(len(data)-walHeader) {
			break // torn
		}
		body := data[walHeader : walHeader+n]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[4:]) {
			break // torn, or stale bytes after the last record
		}
		gen, muts, err := decodeBody(body)
		if err != nil || !first && gen != prev+1 {
			break // a record of an earlier pass over the file
		}
		if gen > applied {
			if len(groups) == 0 && gen != applied+1 {
				return nil, fmt.Errorf("%w: write-ahead log %s starts at group %d, but the store holds groups up to %d only", ErrCorrupt, path, gen, applied)
			}
			groups = append(groups, walGroup{gen: gen, muts: muts, size: walHeader + int(n)})
		}
		prev = gen
		data = data[walHeader+n:]
	}
	return groups, nil
}

// walFile is the open log, written only by the commit loop.
type walFile struct {
	f    *os.File
	path string
	off  int64 // where the next record goes
	size int64 // the file's length (zeros after the records)
	buf  []byte
}

// createLog creates (or empties) the log file and makes its existence
// durable, so records fsync'd into it later survive a power cut.
func createLog(path string) (*walFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ckpt: create write-ahead log: %w", err)
	}
	if err := errors.Join(f.Sync(), syncDir(filepath.Dir(path))); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ckpt: create write-ahead log: %w", err)
	}
	return &walFile{f: f, path: path}, nil
}

// append writes one group's record after the last. It is not durable
// until the syncer's next fdatasync (applier.go). On failure nothing counts
// as written: the next record goes to the same place.
func (l *walFile) append(gen uint64, muts []mutation) (int, error) {
	l.buf = appendRecord(l.buf[:0], gen, muts)
	if err := l.reserve(l.off + int64(len(l.buf))); err != nil {
		return 0, err
	}
	if _, err := l.f.WriteAt(l.buf, l.off); err != nil {
		return 0, fmt.Errorf("ckpt: write-ahead log: %w", err)
	}
	n := len(l.buf)
	l.off += int64(n)
	if cap(l.buf) > 1<<20 {
		l.buf = nil // do not keep a huge group's buffer
	}
	return n, nil
}

// walGrow is how much the log file grows at a time, with zeros written
// ahead of the records: an fdatasync after a write that extends a file
// also commits the new size to the file system's journal, which on this
// kind of disk costs as much again as the data (measured: 0.73 ms per
// group-commit fsync while appending). Records then overwrite zeros, and
// recovery stops at the zeros (a zero length holds no group).
const walGrow = 4 << 20

var walZeros = make([]byte, 256<<10)

// reserve makes the file at least end bytes long, growing it by walGrow.
func (l *walFile) reserve(end int64) error {
	if end <= l.size {
		return nil
	}
	target := max(end, l.size+walGrow)
	for l.size < target {
		n := min(int64(len(walZeros)), target-l.size)
		if _, err := l.f.WriteAt(walZeros[:n], l.size); err != nil {
			return fmt.Errorf("ckpt: write-ahead log: grow: %w", err)
		}
		l.size += n
	}
	return nil
}

// rewind makes the next record go to the start of the file. Call it only
// when bbolt durably holds every record: recovery then stops at the first
// old record, whose gen is not the next.
func (l *walFile) rewind() { l.off = 0 }

// remove closes and deletes the log (a clean Close: bbolt holds it all).
func (l *walFile) remove() error {
	err := l.f.Close()
	if rmErr := os.Remove(l.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}

func (l *walFile) close() error { return l.f.Close() }
