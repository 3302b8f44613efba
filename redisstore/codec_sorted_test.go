package redisstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The record's encoding is msgpack's of the same struct with its maps in
// key order: a record written before (in Go's map order) reads the same,
// and equal records are equal bytes.
func TestCheckpointRecordSortedAndReadsAsBefore(t *testing.T) {
	for _, rec := range []*checkpointRecord{
		{},
		{V: 4, TS: -1, Parent: "p", Versions: map[string]string{}, VersionsSeen: map[string]map[string]string{"n": nil}},
		func() *checkpointRecord {
			r := &checkpointRecord{V: 1 << 40, TS: 1 << 62, Versions: map[string]string{}, VersionsSeen: map[string]map[string]string{}}
			for i := range 40 {
				r.Versions[fmt.Sprint("ch", i)] = fmt.Sprint(i)
				r.VersionsSeen[fmt.Sprint("node", i)] = map[string]string{fmt.Sprint("ch", i): "1", "ch0": "2"}
			}
			return r
		}(),
	} {
		b, err := encodeCheckpoint("ns", rec)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			again, _ := encodeCheckpoint("ns", rec)
			if !bytes.Equal(again, b) {
				t.Fatalf("the same record, other bytes:\n%q\n%q", b, again)
			}
		}
		got, err := decodeCheckpoint("k", "f", b)
		if err != nil || !reflect.DeepEqual(got, rec) && !(len(rec.Versions) == 0 && got.Versions == nil) {
			t.Fatalf("reads back %+v, %v; want %+v", got, err, rec)
		}
		// The value as the previous build wrote it: the same header, the
		// record by msgpack.Marshal.
		body, _ := msgpack.Marshal(rec)
		n := binary.BigEndian.Uint32(b[1:5])
		old := append(bytes.Clone(b[:5+n]), body...)
		viaOld, err := decodeCheckpoint("k", "f", old)
		if err != nil || !reflect.DeepEqual(viaOld, got) {
			t.Fatalf("the old encoding reads %+v, %v; the new %+v", viaOld, err, got)
		}
	}
}
