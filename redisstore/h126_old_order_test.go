package redisstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/vmihailenco/msgpack/v5"
)

// reverseOrderCheckpoint encodes rec as a build before the key-sorted
// encoding could have (Go's map order): its blob list and every map in
// reverse key order.
func reverseOrderCheckpoint(t *testing.T, ns string, rec *checkpointRecord) []byte {
	t.Helper()
	rev := func(m map[string]string) []string {
		ks := slices.Sorted(maps.Keys(m))
		slices.Reverse(ks)
		return ks
	}
	var list []byte
	for _, ch := range rev(rec.Versions) {
		list = appendLen16(list, blobField(ns, ch, rec.Versions[ch]))
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	strMap := func(m map[string]string) {
		if err := enc.EncodeMapLen(len(m)); err != nil {
			t.Fatal(err)
		}
		for _, k := range rev(m) {
			if err := enc.EncodeString(k); err != nil {
				t.Fatal(err)
			}
			if err := enc.EncodeString(m[k]); err != nil {
				t.Fatal(err)
			}
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(enc.EncodeArrayLen(5))
	must(enc.EncodeInt(int64(rec.V)))
	must(enc.EncodeInt(rec.TS))
	must(enc.EncodeString(rec.Parent))
	strMap(rec.Versions)
	nodes := slices.Sorted(maps.Keys(rec.VersionsSeen))
	slices.Reverse(nodes)
	must(enc.EncodeMapLen(len(nodes)))
	for _, n := range nodes {
		must(enc.EncodeString(n))
		strMap(rec.VersionsSeen[n])
	}
	out := append([]byte{recordV1}, binary.BigEndian.AppendUint32(nil, uint32(len(list)))...)
	return append(append(out, list...), buf.Bytes()...)
}

// reverseOrderMetadata encodes md (of string keys and simple values) with
// its keys in reverse order.
func reverseOrderMetadata(t *testing.T, md ckpt.Metadata) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := enc.EncodeMapLen(len(md)); err != nil {
		t.Fatal(err)
	}
	ks := slices.Sorted(maps.Keys(md))
	slices.Reverse(ks)
	for _, k := range ks {
		raw, err := ckpt.EncodeValue("v", md[k])
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.EncodeString(k); err != nil {
			t.Fatal(err)
		}
		buf.Write(raw)
	}
	return append([]byte{recordV1}, buf.Bytes()...)
}

// A put stored by a build that encoded the record's maps in Go's order
// (before the key-sorted encoding) and sent again by this build holds the
// same checkpoint in other bytes. The retry is the same put: success, as
// any put sent again, not ErrConflict for a compare-and-set whose head
// moved on, nor ErrNotFound once its parent is gone.
func TestH126PutSentAgainOverOldOrderRecordSucceeds(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	root, err := s.Put(bg, ckpt.Config{ThreadID: "old"}, ckpt.Checkpoint{}, ckpt.Metadata{"run_id": "r0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := ckpt.Checkpoint{
		V: 4, ID: mustNextID(t, s),
		TS:              time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		ChannelValues:   map[string]any{},
		ChannelVersions: map[string]string{},
		VersionsSeen:    map[string]map[string]string{},
	}
	for i := range 8 {
		ch := fmt.Sprintf("ch%d", i)
		cp.ChannelValues[ch] = i
		cp.ChannelVersions[ch] = "1"
		cp.VersionsSeen[fmt.Sprintf("node%d", i)] = map[string]string{ch: "1", "ch0": "1", "ch7": "1"}
	}
	meta := ckpt.Metadata{"a": "x", "run_id": "r1", "step": 1, "source": "loop"}
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	first, err := s.Put(cas, root, cp, meta, cp.ChannelVersions)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.GetTuple(bg, first)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite its record and metadata as the build before could have.
	keys := s.keys.thread("old")
	f := cpField("", first.CheckpointID)
	rec := &checkpointRecord{V: cp.V, TS: cp.TS.UnixNano(), Parent: root.CheckpointID, Versions: cp.ChannelVersions, VersionsSeen: cp.VersionsSeen}
	oldRec, oldMD := reverseOrderCheckpoint(t, "", rec), reverseOrderMetadata(t, meta)
	newRec, _ := encodeCheckpoint("", rec)
	newMD, _ := encodeMetadata(meta)
	if bytes.Equal(oldRec, newRec) || bytes.Equal(oldMD, newMD) {
		t.Fatal("the old-order encodings are the new bytes: the test tests nothing")
	}
	if err := s.Client().HSet(bg, keys[kCP], f, oldRec).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Client().HSet(bg, keys[kMD], f, oldMD).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTuple(bg, first); err != nil || !reflect.DeepEqual(got, before) {
		t.Fatalf("the old-order record reads %+v, %v; want %+v", got, err, before)
	}
	child, err := s.Put(cas, first, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Put(cas, root, cp, meta, cp.ChannelVersions); err != nil || got != first {
		t.Fatalf("sent again after the head moved on: %+v, %v; want %+v, nil", got, err, first)
	}
	if err := s.DeleteForRuns(bg, []string{"r0"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Put(cas, root, cp, meta, cp.ChannelVersions); err != nil || got != first {
		t.Fatalf("sent again after its parent was deleted: %+v, %v; want %+v, nil", got, err, first)
	}
	if got, err := s.GetTuple(bg, first); err != nil || !reflect.DeepEqual(got.Checkpoint, before.Checkpoint) || !reflect.DeepEqual(got.Metadata, before.Metadata) {
		t.Fatalf("after the retries: %+v, %v; want %+v", got, err, before)
	}
	if head, err := s.GetTuple(bg, ckpt.Config{ThreadID: "old"}); err != nil || head.Config != child {
		t.Fatalf("head after the retries: %v, %v; want %+v", head, err, child)
	}
	// Other content under the id is another put, whose parent is gone
	// (a TS 1 ns later: the comparison is not of doubles).
	other := cp
	other.TS = cp.TS.Add(time.Nanosecond)
	if _, err := s.Put(cas, root, other, meta, cp.ChannelVersions); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("a put of other content (TS 1 ns later) under the id: %v, want ErrNotFound", err)
	}
}
