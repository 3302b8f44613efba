package redisstore

// h117-hunt: a put whose checkpoint record and metadata equal a stored
// checkpoint's (the same given id and TS, versions and metadata) took the
// put script's "already stored" path, meant for a put go-redis sent
// again, without looking at the values: other bytes under the stored
// (channel, version) were answered with success (the bbolt store answers
// ErrVersionReused), and PutFull's pending writes were stored on the
// checkpoint meanwhile.

import (
	"errors"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

func TestH117SameRecordOtherBytesIsVersionReused(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	id := ulid.Make().String()
	ts := time.Now()
	cp := func(v int) ckpt.Checkpoint {
		return ckpt.Checkpoint{ID: id, TS: ts, ChannelValues: map[string]any{"a": v}, ChannelVersions: map[string]string{"a": "1"}}
	}
	c, err := s.Put(bg, ckpt.Config{ThreadID: "x"}, cp(1), ckpt.Metadata{"m": 1}, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	// The same put again is the same put: success, nothing new.
	if _, err := s.Put(bg, ckpt.Config{ThreadID: "x"}, cp(1), ckpt.Metadata{"m": 1}, map[string]string{"a": "1"}); err != nil {
		t.Fatalf("the same put again: %v", err)
	}
	_, err = s.PutFull(bg, ckpt.Config{ThreadID: "x"}, cp(2), ckpt.Metadata{"m": 1}, map[string]string{"a": "1"},
		[]ckpt.TaskWrites{{TaskID: "t", Writes: []ckpt.Write{{Channel: "w", Value: "from the refused put"}}}})
	var vc *ckpt.VersionConflictError
	if !errors.Is(err, ckpt.ErrVersionReused) || !errors.As(err, &vc) || vc.Channel != "a" || vc.Version != "1" {
		t.Fatalf("other bytes under stored a@1 (same record): %v, want a VersionConflictError for a@1", err)
	}
	tp, err := s.GetTuple(bg, c)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := tp.Decode("a", &v); err != nil || v != 1 || len(tp.PendingWrites) != 0 {
		t.Fatalf("after the refused put: a=%d (%v), pending writes %+v; want a=1 and none", v, err, tp.PendingWrites)
	}
}
