package ckpt

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// randValue makes a value of the shapes metadata and pending writes hold,
// with every width of number msgpack has, nesting, and an ext (time.Time)
// now and then.
func randValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(17)
	if depth > 2 && k >= 13 {
		k = rng.IntN(13)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		switch rng.IntN(4) {
		case 0:
			return int8(rng.IntN(256) - 128)
		case 1:
			return int16(rng.IntN(1<<16) - 1<<15)
		case 2:
			return uint8(rng.IntN(256))
		}
		return uint32(rng.Uint32())
	case 3:
		return uint16(rng.IntN(1 << 16))
	case 4:
		return int32(rng.Int32() - rng.Int32())
	case 5:
		return rng.Int64() - rng.Int64()
	case 6:
		return rng.Uint64() | 1<<63 // above MaxInt64
	case 7:
		return float32(rng.NormFloat64())
	case 8:
		return rng.NormFloat64() * 1e6
	case 9:
		return strings.Repeat("é", rng.IntN(40))
	case 10:
		return bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(3)*rng.IntN(300))
	case 11:
		// str8, str16 and, once in about 64 values, str32: a long string
		// is copied by every check, and under -race each copy is costly.
		n := rng.IntN(300)
		if rng.IntN(64) == 0 {
			n = 1<<16 + rng.IntN(100)
		}
		return strings.Repeat("x", n)
	case 12:
		return time.Unix(rng.Int64N(1<<40), 0).UTC()
	case 13, 14:
		s := make([]any, rng.IntN(20))
		for i := range s {
			s[i] = randValue(rng, depth+1)
		}
		return s
	}
	m := map[string]any{}
	for range rng.IntN(20) {
		m[strings.Repeat("k", rng.IntN(40))+string(rune('a'+rng.IntN(26)))] = randValue(rng, depth+1)
	}
	return m
}

// encoders: ours (compact ints, sorted keys) and msgpack's defaults (wide
// ints), so the fast path meets every code.
func encodeBoth(t *testing.T, v any) [][]byte {
	t.Helper()
	var out [][]byte
	for _, compact := range []bool{true, false} {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(compact)
		enc.SetSortMapKeys(true)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// agree decodes b with the fast path and with msgpack into a new *T and
// fails if the fast path accepted b and msgpack did not, or gave another
// value. It reports whether the fast path accepted.
func agree[T any](t *testing.T, what string, b []byte, fast func([]byte) (T, bool)) bool {
	t.Helper()
	got, ok := fast(b)
	if !ok {
		return false
	}
	var want T
	if err := unmarshal(b, &want); err != nil {
		t.Fatalf("%s: the fast path accepted % x, msgpack refused it: %v", what, b, err)
	}
	switch w := any(&want).(type) {
	case *Metadata: // as decodeMetadata does after msgpack
		for k, x := range *w {
			(*w)[k] = normalize(x)
		}
	case *writeRecord: // as decodeWriteRecord does after msgpack
		if len(w.Value) == 0 {
			w.Value = msgpack.RawMessage{0xc0}
		}
	case *checkpointRecord: // parent is only the room Parent may use
		any(&got).(*checkpointRecord).parent = [idLen]byte{}
	}
	if !reflect.DeepEqual(got, want) && !sameEncoding(t, got, want) {
		t.Fatalf("%s: % x\nfast:    %#v\nmsgpack: %#v", what, b, got, want)
	}
	return true
}

// sameEncoding compares two decoded values by their plain msgpack
// encoding (every width kept, keys sorted): NaN is not DeepEqual to itself.
func sameEncoding(t *testing.T, a, b any) bool {
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.SetSortMapKeys(true)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	return bytes.Equal(enc(a), enc(b))
}

// deref adapts a fast decoder of *T to agree's func of T.
func deref[T any](fast func([]byte) (*T, bool)) func([]byte) (T, bool) {
	return func(b []byte) (T, bool) {
		p, ok := fast(b)
		if !ok {
			var zero T
			return zero, false
		}
		return *p, true
	}
}

func TestFastDecodeAgreesWithMsgpack(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := map[string]int{}
	check := func(what string, b []byte) {
		var ok bool
		switch what {
		case "metadata":
			ok = agree(t, what, b, fastMetadata)
		case "checkpoint":
			ok = agree(t, what, b, deref(fastCheckpointRecord))
		case "write":
			ok = agree(t, what, b, deref(fastWriteRecord))
		case "sealed":
			ok = agree(t, what, b, deref(fastSealedWriteRecord))
		}
		if ok {
			accepted[what]++
		}
	}
	strMap := func() map[string]string {
		if rng.IntN(5) == 0 {
			return nil
		}
		m := map[string]string{}
		for range rng.IntN(12) {
			m[string(rune('a'+rng.IntN(26)))+strings.Repeat("c", rng.IntN(5))] = strings.Repeat("9", rng.IntN(40))
		}
		return m
	}
	// 300 rounds under -race (23 s for 1000 at load 15-20): one goroutine
	// compares two pure decoders; CI's plain command runs all 1000.
	rounds := raceRounds(t, 1000, 300)
	for range rounds {
		md := map[string]any{}
		for range rng.IntN(8) {
			md[string(rune('a'+rng.IntN(26)))] = randValue(rng, 0)
		}
		var parent []byte
		if rng.IntN(3) > 0 {
			parent = make([]byte, rng.IntN(2)*16)
		}
		seen := map[string]map[string]string{}
		for range rng.IntN(4) {
			seen[string(rune('a'+rng.IntN(26)))] = strMap()
		}
		if rng.IntN(4) == 0 {
			seen = nil
		}
		cp := &checkpointRecord{V: rng.IntN(5) - 1, TS: rng.Int64() - rng.Int64(), Parent: parent, Versions: strMap(), VersionsSeen: seen}
		value, err := msgpack.Marshal(randValue(rng, 0))
		if err != nil {
			t.Fatal(err)
		}
		wr := &writeRecord{Channel: strings.Repeat("c", rng.IntN(40)), TaskPath: strings.Repeat("p", rng.IntN(3)), Value: value}
		sr := &sealedWriteRecord{Channel: "c", TaskPath: "p", Sealed: bytes.Repeat([]byte{7}, rng.IntN(3)*rng.IntN(100))}
		cases := map[string][][]byte{"metadata": encodeBoth(t, md), "checkpoint": encodeBoth(t, cp), "write": encodeBoth(t, wr), "sealed": encodeBoth(t, sr)}
		ours, err := marshal(nil, md) // what the store writes
		if err != nil {
			t.Fatal(err)
		}
		cases["metadata"] = append(cases["metadata"], ours)
		for what, bs := range cases {
			for _, b := range bs {
				check(what, b)
				// Damage: a flipped byte, a cut, a byte added. The fast
				// path may decline; what it accepts msgpack must read alike.
				m := bytes.Clone(b)
				if len(m) > 0 {
					m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
					check(what, m)
					check(what, b[:rng.IntN(len(b))])
				}
				check(what, append(bytes.Clone(b), byte(rng.IntN(256))))
			}
		}
	}
	// The fast path must do the work, not decline it: every well-formed
	// record without an ext type is taken.
	for _, what := range []string{"metadata", "checkpoint", "write", "sealed"} {
		if accepted[what] < rounds {
			t.Errorf("%s: the fast path took only %d records in %d rounds", what, accepted[what], rounds)
		}
	}
}

func TestFastDecodeDeclinesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	withTime, _ := msgpack.Marshal(map[string]any{"at": time.Unix(1, 0)})
	if _, ok := fastMetadata(withTime); ok {
		t.Error("an ext type was taken by the fast path")
	}
	intKey, _ := msgpack.Marshal(map[int]any{1: "x"})
	if _, ok := fastMetadata(intKey); ok {
		t.Error("a map with an int key was taken")
	}
	if _, ok := fastMetadata([]byte{0xc0}); ok {
		t.Error("a nil metadata map was taken (msgpack gives a nil map)")
	}
	big, _ := msgpack.Marshal(map[string]any{"n": uint64(math.MaxUint64)})
	m, ok := fastMetadata(big)
	if !ok || m["n"] != uint64(math.MaxUint64) {
		t.Errorf("uint64 above MaxInt64: %v %v", m, ok)
	}
	// A huge length in a short buffer must not allocate it (a flipped
	// byte once made this test take 22 GB).
	huge := []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}
	if _, ok := fastMetadata(huge); ok {
		t.Error("a map length past the buffer was taken")
	}
	cp := append([]byte{0x95, 0x01, 0x01, 0xc0}, huge...)
	if _, ok := fastCheckpointRecord(cp); ok {
		t.Error("a versions map length past the buffer was taken")
	}
	cp = append([]byte{0x95, 0x01, 0x01, 0xc0, 0x80}, huge...)
	if _, ok := fastCheckpointRecord(cp); ok {
		t.Error("a versions-seen map length past the buffer was taken")
	}
	arr := []byte{0x81, 0xa1, 'k', 0xdd, 0x7f, 0xff, 0xff, 0xff}
	if _, ok := fastMetadata(arr); ok {
		t.Error("an array length past the buffer was taken")
	}
}
