package ckpt_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/vmihailenco/msgpack/v5"
)

// A Raw handed to a write is stored as is (no re-encoding). Bytes that
// are not one whole msgpack value were stored and acknowledged, and then
// every read of the channel said the file was corrupt: a write must
// refuse them (ErrEncode, nothing written). An empty Raw (the zero
// value, as msgpack leaves a Raw field whose value is nil) is nil: a
// struct read back with such a field and saved again stored a map with a
// key and no value, which no read could decode.
func TestRawThatIsNotOneValueIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	bad := map[string]ckpt.Raw{
		"text, not msgpack": ckpt.Raw("hello"),
		"a cut string":      ckpt.Raw{0xa5, 'a', 'b'},
		"two values":        ckpt.Raw{0x01, 0x02},
		"a map cut short":   ckpt.Raw{0x82, 0xa1, 'a', 0x01},
	}
	for name, raw := range bad {
		for where, state := range map[string]map[string]any{
			"channel":       {"x": raw},
			"inside a map":  {"x": map[string]any{"a": raw, "b": 1}},
			"inside a list": {"x": []any{1, raw}},
		} {
			if _, err := s.Save(ctx, "bad", state, nil); !errors.Is(err, ckpt.ErrEncode) {
				t.Errorf("%s as %s: Save: %v, want ErrEncode", name, where, err)
			}
		}
		if _, err := s.Save(ctx, "bad", map[string]any{"x": 1}, ckpt.Metadata{"m": raw}); !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s as metadata: Save: %v, want ErrEncode", name, err)
		}
	}
	if _, err := s.Latest(ctx, "bad"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("after refused Saves: Latest: %v, want ErrNotFound (nothing written)", err)
	}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "w"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "c", Value: ckpt.Raw("hello")}}, "task", ""); !errors.Is(err, ckpt.ErrEncode) {
		t.Errorf("a pending write of text as Raw: %v, want ErrEncode", err)
	}

	// The zero Raw is nil, as a channel and nested.
	type withRaw struct {
		A ckpt.Raw
		B int
	}
	id, err := s.Save(ctx, "zero", map[string]any{
		"x": ckpt.Raw{},
		"y": map[string]any{"a": ckpt.Raw(nil), "b": 2},
		"z": withRaw{B: 3},
	}, nil)
	if err != nil {
		t.Fatalf("Save with zero Raws: %v", err)
	}
	snap, err := s.Load(ctx, "zero", id)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := snap.Decode("x", &x); err != nil || x != nil {
		t.Errorf("x: %v, %v; want nil", x, err)
	}
	var y map[string]any
	if err := snap.Decode("y", &y); err != nil || !reflect.DeepEqual(y, map[string]any{"a": nil, "b": int64(2)}) {
		t.Errorf("y: %v, %v; want map[a:<nil> b:2]", y, err)
	}
	var z withRaw
	if err := snap.Decode("z", &z); err != nil || z.B != 3 {
		t.Fatalf("z: %+v, %v", z, err)
	}
	// A nil read into a Raw field: its Decode and Value give nil, not
	// ErrCorrupt (the file is fine), and saved again it is nil.
	if v, err := z.A.Value(); err != nil || v != nil {
		t.Errorf("the nil field's Value: %v, %v; want nil, nil", v, err)
	}
	five := 5
	into := &five
	if err := z.A.Decode(&into); err != nil || into != nil {
		t.Errorf("the nil field's Decode: %v, %v; want nil", into, err)
	}
	id2, err := s.Save(ctx, "zero", map[string]any{"z": z, "y": map[string]any{"a": z.A}}, nil)
	if err != nil {
		t.Fatalf("Save of the read-back struct: %v", err)
	}
	snap, err = s.Load(ctx, "zero", id2)
	if err != nil {
		t.Fatal(err)
	}
	var z2 withRaw
	if err := snap.Decode("z", &z2); err != nil || z2.B != 3 || len(z2.A) != 0 {
		t.Errorf("z saved again: %+v, %v", z2, err)
	}
	if err := snap.Decode("y", &y); err != nil || !reflect.DeepEqual(y, map[string]any{"a": nil}) {
		t.Errorf("y saved again: %v, %v; want map[a:<nil>]", y, err)
	}
}

// junkEncoder and twoValues are custom encoders with a bug: one writes
// bytes that are not msgpack, the other two values where one is due.
type junkEncoder struct{}

func (junkEncoder) EncodeMsgpack(enc *msgpack.Encoder) error {
	_, err := enc.Writer().Write([]byte("junk"))
	return err
}

type twoValues struct{}

func (twoValues) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeInt(1); err != nil {
		return err
	}
	return enc.EncodeInt(2)
}

// A value whose own EncodeMsgpack writes what is not one msgpack value
// was stored and acknowledged; reads then gave a wrong value with no
// error ("junk" read as the number 106, two values as the first) or
// called the file corrupt. A write refuses it (ErrEncode, nothing
// written), as it refuses a value msgpack cannot encode.
func TestCustomEncoderThatWritesNoValueIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	for name, v := range map[string]any{
		"junk": junkEncoder{}, "two values": twoValues{},
		"junk in a map": map[string]any{"a": junkEncoder{}, "b": 1}, "two values in a list": []any{twoValues{}, 3},
	} {
		if _, err := s.Save(ctx, "custom", map[string]any{"x": v}, nil); !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s as a channel: Save: %v, want ErrEncode", name, err)
		}
		if _, err := s.Save(ctx, "custom", map[string]any{"x": 1}, ckpt.Metadata{"m": v}); !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("%s in metadata: Save: %v, want ErrEncode", name, err)
		}
	}
	if snap, err := s.Latest(ctx, "custom"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("after refused Saves: Latest: %v, %v; want ErrNotFound (nothing written)", snap, err)
	}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "w"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "c", Value: junkEncoder{}}}, "task", ""); !errors.Is(err, ckpt.ErrEncode) {
		t.Errorf("a pending write of junk: %v, want ErrEncode", err)
	}
}
