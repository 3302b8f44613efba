package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// A checkpoint of many channels encodes to the same bytes each time (its
// versions maps sorted), so a caller sending its put again by hand finds
// it stored: the compare-and-set resend succeeds every time, not
// ErrConflict when Go's map order differed.
func TestManyChannelPutSentAgainIsTheSamePut(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	root, err := s.Put(bg, ckpt.Config{ThreadID: "many"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := ckpt.Checkpoint{
		ID:              mustNextID(t, s),
		ChannelValues:   map[string]any{},
		ChannelVersions: map[string]string{},
		VersionsSeen:    map[string]map[string]string{},
	}
	for i := range 16 {
		ch := fmt.Sprintf("ch%02d", i)
		cp.ChannelValues[ch] = i
		cp.ChannelVersions[ch] = "1"
		cp.VersionsSeen[fmt.Sprintf("node%02d", i)] = map[string]string{ch: "1", "ch00": "1", "ch15": "1"}
	}
	cp.TS = time.Now()
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	for i := range 20 {
		if _, err := s.Put(cas, root, cp, ckpt.Metadata{"step": 1}, cp.ChannelVersions); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
}

// mustNextID draws a new checkpoint id from s's source.
func mustNextID(t *testing.T, s *Store) string {
	t.Helper()
	id, err := s.ids.Next(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}
