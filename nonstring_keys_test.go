package ckpt_test

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Metadata is read back as map[string]any, maps inside it too: a map with
// keys that are not strings (map[int]string) encoded, Put acknowledged it,
// and every read of the checkpoint, List of its thread and Verify then
// called it damaged ("metadata record: msgpack: invalid code=1 decoding
// string/bytes length", ErrCorrupt). Such metadata is refused before
// anything is written (ErrEncode); maps with string keys of any Go type
// stay fine.
func TestMetadataWithNonStringMapKeysIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	cp := func() ckpt.Checkpoint {
		return ckpt.Checkpoint{ChannelValues: map[string]any{"c": 1}, ChannelVersions: map[string]string{"c": "1"}}
	}
	for name, md := range map[string]ckpt.Metadata{
		"map[int]string":        {"m": map[int]string{1: "a"}},
		"nested in a list":      {"l": []any{"x", map[string]any{"ok": map[bool]int{true: 1}}}},
		"map[any]any, int key":  {"m": map[any]any{"a": 1, 2: "b"}},
		"map[float64]string":    {"m": map[float64]string{1.5: "a"}},
		"in a struct's map":     {"s": struct{ M map[int]int }{map[int]int{1: 2}}},
		"map[[2]int]string key": {"m": map[[2]int]string{{1, 2}: "a"}},
	} {
		thread := "t " + name
		_, err := s.Put(ctx, ckpt.Config{ThreadID: thread}, cp(), md, map[string]string{"c": "1"})
		if !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s: Put: %v, want ErrEncode", name, err)
		}
		_, err = s.PutFull(ctx, ckpt.Config{ThreadID: thread}, cp(), md, map[string]string{"c": "1"}, nil)
		if !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s: PutFull: %v, want ErrEncode", name, err)
		}
		if _, err := s.Save(ctx, thread, map[string]any{"c": 1}, md); !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s: Save: %v, want ErrEncode", name, err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("%s: after the refused writes, GetTuple: %v, want ErrNotFound", name, err)
		}
	}
	// String keys, whatever the map's Go type: stored and read back.
	md := ckpt.Metadata{"a": map[string]int{"x": 1}, "b": map[any]any{"y": []any{map[any]any{"z": true}}}}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "fine"}, cp(), md, map[string]string{"c": "1"})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tp.Metadata["b"].(map[string]any)["y"].([]any)[0].(map[string]any)["z"]; got != true {
		t.Fatalf("metadata read back as %v", tp.Metadata)
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
}

// A channel value or pending write with a map keyed by ints is the app's
// to store: it decodes into its own type (map[int]string), only not into
// a bare any (ErrDecode, naming the target). Verify called such a
// sound value damage ("does not decode").
func TestVerifyAcceptsValuesWithNonStringMapKeys(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	v := map[int]string{1: "a", 2: "b"}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"},
		ckpt.Checkpoint{ChannelValues: map[string]any{"c": v}, ChannelVersions: map[string]string{"c": "1"}},
		nil, map[string]string{"c": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "c", Value: v}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got map[int]string
	if err := tp.Decode("c", &got); err != nil || got[1] != "a" || got[2] != "b" {
		t.Fatalf("Decode into map[int]string: %v %v", got, err)
	}
	if err := tp.PendingWrites[0].Value.Decode(&got); err != nil || got[2] != "b" {
		t.Fatalf("pending write into map[int]string: %v %v", got, err)
	}
	var anyV any
	if err := tp.Decode("c", &anyV); !errors.Is(err, ckpt.ErrDecode) {
		t.Fatalf("Decode into any: %v, want ErrDecodeType", err)
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
}
