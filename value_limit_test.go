package ckpt_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// hugeRaw is a msgpack byte string of n bytes. Its payload is never
// written, so the OS backs it with no memory until something copies it.
func hugeRaw(n int) ckpt.Raw {
	b := make([]byte, 5+n)
	b[0] = 0xc6 // bin32
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return ckpt.Raw(b)
}

// bbolt stores no value over 2 GiB - 2 bytes. A channel value that size
// was acknowledged (logged and fsync'd), and then the applier could not
// put it into bbolt: the store failed after the ack, and the log kept a
// group no Open could apply. A value too large for the file is refused
// before anything is copied or written (ErrInvalidConfig), and the store
// goes on.
//
// Not parallel, and a GC when it ends: its 2 GiB value (never touched, so
// no memory of the OS's) counts in the Go heap, which the damaged-file
// hunts watch process-wide (hangWatch: 256 MB); run beside them it failed
// all three (CI at 39c9317).
func TestValueTooLargeForBboltIsRefusedBeforeTheAck(t *testing.T) {
	t.Cleanup(runtime.GC) // after the test's own frame, the value with it, is gone
	path := filepath.Join(t.TempDir(), "big.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := hugeRaw(1 << 31)
	_, err = s.Put(ctx, ckpt.Config{ThreadID: "t"},
		ckpt.Checkpoint{ChannelValues: map[string]any{"big": raw}, ChannelVersions: map[string]string{"big": "1"}},
		nil, map[string]string{"big": "1"})
	if !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Put of a 2 GiB value: %v, want ErrInvalidConfig", err)
	}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"},
		ckpt.Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "1"}},
		nil, map[string]string{"x": "1"})
	if err != nil {
		t.Fatalf("a small Put after it: %v", err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "big", Value: raw}}, "task", ""); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("PutWrites of a 2 GiB value: %v, want ErrInvalidConfig", err)
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatalf("ApplyLog: %v", err)
	}
	if _, err := s.GetTuple(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}
