package ckpt

// The fast decoders (fastdec.go, fastdec_records.go) read records whose
// checksum passed, but a forged or colliding record reaches them too: on
// any bytes they must not panic or allocate past the input, and what they
// accept msgpack must read alike (TestFastDecodeAgreesWithMsgpack checks
// random records and their damage; this lets the fuzzer look further).
// The seeds run in every `go test`; `go test -fuzz FuzzFastDecode` hunts.

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func FuzzFastDecodeAgreesWithMsgpack(f *testing.F) {
	seeds := []any{
		map[string]any{"step": int64(3), "source": "loop", "writes": map[string]any{"a": []any{"x", 1.5, nil, true}}},
		&checkpointRecord{V: 4, TS: 1700000000000, Parent: make([]byte, idLen), Versions: map[string]string{"messages": "0001", "x": "2"},
			VersionsSeen: map[string]map[string]string{"node": {"messages": "0001"}}},
		&writeRecord{Channel: "messages", TaskPath: "~__pregel_pull, agent", Value: msgpack.RawMessage{0x92, 0xa1, 'a', 0x01}},
		&sealedWriteRecord{Channel: "c", TaskPath: "p", Sealed: []byte("sealed bytes")},
	}
	for i, v := range seeds {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte{0xdf, 0x7f, 0xff, 0xff, 0xff})
	f.Add(uint8(1), []byte{0x95, 0x01, 0x01, 0xc0, 0x80, 0xdf, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		switch kind % 4 {
		case 0:
			agree(t, "metadata", b, fastMetadata)
		case 1:
			agree(t, "checkpoint", b, deref(fastCheckpointRecord))
		case 2:
			agree(t, "write", b, deref(fastWriteRecord))
		case 3:
			agree(t, "sealed", b, deref(fastSealedWriteRecord))
		}
	})
}
