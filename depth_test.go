package ckpt

// Specs for deeply nested msgpack. A record with a valid checksum can
// still hold maps and lists nested millions deep (a forged file, a forged
// log, a dump line); decoding such a value by recursion overflowed the
// goroutine stack, and a Go stack overflow is fatal: no recover, the
// process died because of the file. Every decoder of stored or imported
// bytes now refuses nesting deeper than maxDepth with ErrCorrupt (or, for
// a dump, an import error), and writes refuse to store what reads would
// refuse. The forged tests run in a child process (so that, without the
// limit, the suite survives the crash and reports it) whose stack is
// capped, so a crash costs 64 MiB of stack, not the default 1 GB.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	depthChildEnv = "CKPT_DEPTH_CHILD"
	// depthChildStack caps the child's goroutine stacks: far above what
	// maxDepth levels take in any decoder, far below what the forged
	// values would take.
	depthChildStack = 64 << 20
	// forgedDepth is how deeply the forged values nest: 4 Mi levels of at
	// least one byte of msgpack each, and a recursive decoder spends far
	// more than 16 bytes of stack on a level.
	forgedDepth = 4 << 20
)

// inDepthChild reports whether the calling test runs in its child process;
// if not, it runs the test there and fails it if the child failed or died.
// The tests that call it are parallel: the parent only waits for its
// child. (Run one after the other, before every parallel test of the
// package, the four took 23 s of a loaded run under -race, 15 s of it the
// import's, while the package's other tests waited.)
func inDepthChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(depthChildEnv) != "" {
		debug.SetMaxStack(depthChildStack)
		return true
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	bin := testchild.Binary() // first: a cold build must not count against the timeout
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, bin, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = childEnv(depthChildEnv + "=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.SplitN(string(out), "\n", 41)
		t.Fatalf("child: %v\n%s", err, strings.Join(lines[:min(len(lines), 40)], "\n"))
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the child did not run %s:\n%s", t.Name(), out)
	}
	return false
}

// deepList is a msgpack list of a list of ... n deep, around nil.
func deepList(n int) []byte {
	return append(bytes.Repeat([]byte{0x91}, n), 0xc0)
}

// deepMap is {"a": {"a": ... nil}}, n maps deep.
func deepMap(n int) []byte {
	return append(bytes.Repeat([]byte{0x81, 0xa1, 'a'}, n), 0xc0)
}

// sealed is a checksummed record: version byte, body, CRC-32C.
func sealed(version byte, body ...[]byte) []byte {
	return appendSum(0, nil, append([]byte{version}, bytes.Join(body, nil)...))
}

// mpStr encodes a short string.
func mpStr(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }

// wantTooDeep fails unless err is ErrCorrupt saying the value nests too
// deeply and naming every one of where.
func wantTooDeep(t *testing.T, what string, err error, where ...string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), errTooDeep.Error()) {
		t.Errorf("%s: %v, want ErrCorrupt for nesting deeper than %d", what, err, maxDepth)
		return
	}
	for _, w := range where {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %v does not name %q", what, err, w)
		}
	}
}

// The decoders themselves, on forged bytes: each refuses, none recurses
// into the depths.
func TestDeepNestingDecoders(t *testing.T) {
	t.Parallel()
	if !inDepthChild(t) {
		return
	}
	list, mp := deepList(forgedDepth), deepMap(forgedDepth)
	meta := append([]byte{0x81}, append(mpStr("m"), list...)...)
	// A checkpoint header with a deep sixth field: msgpack refuses it
	// without recursing (its fields are typed), the limit refuses it
	// first.
	cp := bytes.Join([][]byte{{0x96, 0x01, 0x01, 0xc0, 0x80, 0x80}, list}, nil)
	write := bytes.Join([][]byte{{0x93}, mpStr("ch"), mpStr("task"), list}, nil)

	_, err := decodeMetadata(0, nil, sealed(metadataRecordV2, meta))
	wantTooDeep(t, "metadata", err)
	_, err = decodeMetadata(0, nil, sealed(metadataRecordV2, []byte{0x81}, mpStr("m"), mp))
	wantTooDeep(t, "metadata of maps", err)
	_, err = decodeCheckpointRecord(0, nil, sealed(checkpointRecordV2, cp))
	wantTooDeep(t, "checkpoint record", err)
	_, err = decodeWriteRecord(0, nil, sealed(writeRecordV2, write))
	wantTooDeep(t, "pending write", err)
	_, err = itemsLen(list, 1)
	wantTooDeep(t, "list items", err)
	for name, b := range map[string][]byte{"list": list, "map": mp} {
		var v any
		wantTooDeep(t, name+" into any", Raw(b).Decode(&v))
		var m map[string]any
		wantTooDeep(t, name+" into a map", Raw(b).Decode(&m))
		var s []any
		wantTooDeep(t, name+" into a slice", Raw(b).Decode(&s))
		if _, ok := storedKind(b); ok {
			t.Errorf("storedKind(%s) ok", name)
		}
	}
	// maxDepth itself decodes, one level more does not.
	var v any
	if err := Raw(deepList(maxDepth)).Decode(&v); err != nil {
		t.Errorf("%d levels: %v", maxDepth, err)
	}
	wantTooDeep(t, "one level more", Raw(deepList(maxDepth+1)).Decode(&v))
	if _, err := decodeMetadata(0, nil, sealed(metadataRecordV2, []byte{0x81}, mpStr("m"), deepList(maxDepth-1))); err != nil {
		t.Errorf("metadata of %d levels: %v", maxDepth, err)
	}
}

// forgeDeep stores, in s's thread "t", one checkpoint per kind of forged
// record and returns their ids: deep metadata, a deep checkpoint header,
// a deep channel value and a deep pending write.
func forgeDeep(t *testing.T, s *Store) (ids map[string]string, chanVersion string) {
	t.Helper()
	ctx := context.Background()
	ids = map[string]string{}
	for _, kind := range []string{"metadata", "checkpoint", "value", "write"} {
		id, err := s.Save(ctx, "t", map[string]any{"v": kind}, Metadata{"kind": kind})
		if err != nil {
			t.Fatal(err)
		}
		ids[kind] = id
	}
	if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: ids["write"]}, []Write{{Channel: "w", Value: 1}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	tup, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids["value"]})
	if err != nil {
		t.Fatal(err)
	}
	chanVersion = tup.Checkpoint.ChannelVersions["v"]
	list := deepList(forgedDepth)
	key := func(kind string) []byte {
		id, err := parseID("id", ids[kind])
		if err != nil {
			t.Fatal(err)
		}
		return checkpointKey("", id)
	}
	err = s.write(ctx, func(w writer) error {
		if err := w.Put(threadPath("t", bucketMetadata), key("metadata"),
			sealed(metadataRecordV2, []byte{0x81}, mpStr("m"), list)); err != nil {
			return err
		}
		if err := w.Put(threadPath("t", bucketCheckpoints), key("checkpoint"),
			sealed(checkpointRecordV2, []byte{0x96, 0x01, 0x01, 0xc0, 0x80, 0x80}, list)); err != nil {
			return err
		}
		if err := w.Put(threadPath("t", bucketBlobs), blobKey("", "v", chanVersion), encodeBlob(seedOf("t"), blobKey("", "v", chanVersion), list, false)); err != nil {
			return err
		}
		wid, _ := parseID("id", ids["write"])
		return w.Put(threadPath("t", bucketWrites), writeKey("", wid, "task", 0),
			sealed(writeRecordV2, []byte{0x93}, mpStr("w"), mpStr(""), list))
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, chanVersion
}

// A store file holding forged records: every read of them is ErrCorrupt
// naming thread, checkpoint and channel; List, Verify and Export go on.
func TestDeepNestingInTheFile(t *testing.T) {
	t.Parallel()
	if !inDepthChild(t) {
		return
	}
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "deep.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, ver := forgeDeep(t, s)
	checkDeepReads(t, s, ids, ver)
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"metadata", "checkpoint", "value", "write"} {
		found := false
		for _, p := range rep.Problems {
			found = found || p.Check == kind && strings.Contains(p.Detail, errTooDeep.Error())
		}
		if !found {
			t.Errorf("Verify does not report the deep %s: %+v", kind, rep.Problems)
		}
	}
}

// checkDeepReads reads each forged checkpoint of forgeDeep.
func checkDeepReads(t *testing.T, s *Store, ids map[string]string, ver string) {
	t.Helper()
	ctx := context.Background()
	for _, kind := range []string{"metadata", "checkpoint", "write"} {
		_, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids[kind]})
		wantTooDeep(t, "GetTuple of the deep "+kind, err, `"t"`, ids[kind])
	}
	tup, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids["value"]})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	wantTooDeep(t, "the deep value", tup.Decode("v", &v), `"v"`)
	snap, err := s.Load(ctx, "t", ids["value"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = snap.StateMap()
	wantTooDeep(t, "the deep state", err, `"v"`)
	for _, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("List: %v", err)
		}
	}
}

// The same records arriving through the write-ahead log: replayed at Open
// and read from the overlay, then from bbolt once applied.
func TestDeepNestingThroughTheLog(t *testing.T) {
	t.Parallel()
	if !inDepthChild(t) {
		return
	}
	ctx := context.Background()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	ids := saveN(t, s, "t", 0, 2)
	cp := crashCopy(t, s)
	log, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := engine.ReadLog(cp+walSuffix, 0)
	if err != nil || len(groups) != 2 {
		t.Fatalf("ReadLog: %d groups, %v", len(groups), err)
	}
	// The second group's metadata becomes deep; the log is re-chained.
	forged := false
	for i, m := range groups[1].Muts {
		if len(m.Path) > 0 && string(m.Path[len(m.Path)-1]) == string(bucketMetadata) && m.Val != nil {
			groups[1].Muts[i].Val = sealed(metadataRecordV2, []byte{0x81}, mpStr("m"), deepList(forgedDepth))
			forged = true
		}
	}
	if !forged {
		t.Fatal("no metadata put in the second group: the test proves nothing")
	}
	id, seed := binary.BigEndian.Uint64(log[16:]), binary.BigEndian.Uint32(log[12:])
	out := bytes.Clone(log[:engine.HeaderSize])
	for _, g := range groups {
		out, seed = engine.ForgeRecord(out, id, seed, g.Gen, g.Muts)
	}
	out = append(out, make([]byte, engine.RecordHeaderSize)...) // as a log grows
	path := withLog(t, s, out)
	r, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids[1]})
	wantTooDeep(t, "GetTuple from the log", err, `"t"`, ids[1])
	if err := r.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = r.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids[1]})
	wantTooDeep(t, "GetTuple once applied", err, `"t"`, ids[1])
	if _, err := r.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: ids[0]}); err != nil {
		t.Errorf("the sound checkpoint: %v", err)
	}
}

// A dump line holding a deep record: Import refuses the dump with an error
// naming the line and the record, and leaves the store as it was.
func TestDeepNestingImport(t *testing.T) {
	t.Parallel()
	if !inDepthChild(t) {
		return
	}
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	id, err := src.Save(ctx, "t", map[string]any{"v": 1, "l": []any{1, 2}}, Metadata{"k": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "w", Value: 1}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	list := deepList(forgedDepth)
	cases := map[string]func(rec map[string]any) bool{
		"checkpoint metadata": func(rec map[string]any) bool {
			if rec["kind"] != "checkpoint" {
				return false
			}
			rec["metadata"] = sealed(metadataRecordV2, []byte{0x81}, mpStr("m"), list)
			return true
		},
		"checkpoint record": func(rec map[string]any) bool {
			if rec["kind"] != "checkpoint" {
				return false
			}
			rec["data"] = sealed(checkpointRecordV2, []byte{0x96, 0x01, 0x01, 0xc0, 0x80, 0x80}, list)
			return true
		},
		"value": func(rec map[string]any) bool {
			if rec["kind"] != "value" || rec["channel"] != "v" {
				return false
			}
			rec["data"] = sealed(blobRecordV3, []byte{blobValue}, list) // a format-3 sum: the key is not in it
			return true
		},
		"write": func(rec map[string]any) bool {
			if rec["kind"] != "write" {
				return false
			}
			rec["data"] = sealed(writeRecordV2, []byte{0x93}, mpStr("w"), mpStr(""), list)
			return true
		},
		"list segment": func(rec map[string]any) bool {
			if rec["kind"] != "segment" {
				return false
			}
			items := append([]byte{0x01}, list...)
			rec["data"] = sealed(segmentRecordV2, []byte{segmentFolded}, binary.AppendUvarint(nil, 2), items)
			return true
		},
	}
	for name, forge := range cases {
		var out bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(dump.Bytes()))
		sc.Buffer(nil, 1<<20)
		forged := 0
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			line := sc.Bytes()
			if forged == 0 && forge(rec) {
				forged++
				for k, v := range rec {
					if b, ok := v.([]byte); ok {
						rec[k] = base64.StdEncoding.EncodeToString(b)
					}
				}
				if line, err = json.Marshal(rec); err != nil {
					t.Fatal(err)
				}
			}
			out.Write(append(line, '\n'))
		}
		if forged != 1 {
			t.Fatalf("%s: no line forged: the test proves nothing", name)
		}
		dst, err := Open(filepath.Join(t.TempDir(), "dst.db"), Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		_, err = dst.Import(ctx, &out, ImportOptions{})
		if !errors.Is(err, ErrDump) || !strings.Contains(err.Error(), errTooDeep.Error()) {
			t.Errorf("%s: Import = %v, want ErrDump for nesting deeper than %d", name, err, maxDepth)
		}
		if _, err := dst.GetTuple(ctx, Config{ThreadID: "t"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: after the failed import, GetTuple = %v, want ErrNotFound", name, err)
		}
		dst.Close()
	}
}

// Writes refuse what reads would refuse, so an acknowledged value always
// reads back: a value or metadata nesting deeper than maxDepth (built in
// Go or handed over as Raw) is ErrEncode; maxDepth itself is stored.
func TestDeepNestingWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newInspectStore(t)
	nested := func(n int) any {
		var v any
		for range n {
			v = []any{v}
		}
		return v
	}
	for name, v := range map[string]any{
		"a Go value":     nested(maxDepth + 1),
		"a Raw":          Raw(deepList(maxDepth + 1)),
		"a Raw in a map": map[string]any{"x": Raw(deepList(maxDepth))},
	} {
		if _, err := s.Save(ctx, "t", map[string]any{"v": v}, nil); !errors.Is(err, ErrEncode) {
			t.Errorf("Save of %s %d deep = %v, want ErrEncode", name, maxDepth+1, err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"v": 1}, Metadata{"m": v}); !errors.Is(err, ErrEncode) {
			t.Errorf("Save of metadata holding %s %d deep = %v, want ErrEncode", name, maxDepth+1, err)
		}
	}
	id, err := s.Save(ctx, "t", map[string]any{"v": nested(maxDepth)}, Metadata{"m": nested(maxDepth - 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "w", Value: nested(maxDepth + 1)}}, "task", ""); !errors.Is(err, ErrEncode) {
		t.Errorf("PutWrites of a value %d deep = %v, want ErrEncode", maxDepth+1, err)
	}
	snap, err := s.Load(ctx, "t", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.StateMap(); err != nil {
		t.Fatalf("a value %d deep: %v", maxDepth, err)
	}
}

// tooDeep counts every kind of map and list header and jumps over every
// kind of scalar: a value maxDepth deep passes and one level more does
// not, whatever headers it uses and whatever sits beside the nesting;
// truncated bytes are left to the decoder.
func TestTooDeepReadsEveryHeader(t *testing.T) {
	t.Parallel()
	// Scalars of every encoding the scan must jump over (those with 32-bit
	// lengths only once, below: they are large).
	scalars, err := marshal(nil, []any{
		int64(-1), int64(200), int64(-200), int64(70000), int64(-70000), int64(1 << 40), int64(-1 << 40), uint64(1 << 63),
		float32(1.5), 2.5, true, false, nil, "short", strings.Repeat("s", 40), strings.Repeat("s", 300),
		[]byte("b"), bytes.Repeat([]byte("b"), 300), time.Unix(1, 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	scalars = scalars[3:] // the items, without the array16 header
	const nScalars = 19
	large, err := marshal(nil, []any{strings.Repeat("s", 70000), bytes.Repeat([]byte("b"), 70000)})
	if err != nil {
		t.Fatal(err)
	}
	large = large[1:]
	exts := [][]byte{{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...), {0xc7, 2, 1, 0, 0}, {0xc8, 0, 2, 1, 0, 0}, {0xc9, 0, 0, 0, 2, 1, 0, 0}}
	// level returns the header of a container holding the scalars, the
	// exts and one more element (the next level), in encoding kind%6.
	level := func(kind int) []byte {
		items := nScalars + len(exts) + 1
		var h []byte
		switch kind % 6 {
		case 0:
			return append([]byte{0x91}, nil...) // fixarray: the nested element alone
		case 1:
			h = binary.BigEndian.AppendUint16([]byte{0xdc}, uint16(items))
		case 2:
			h = binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(items))
		case 3:
			return []byte{0x81, 0xa1, 'k'} // fixmap
		case 4:
			return append(binary.BigEndian.AppendUint16([]byte{0xde}, 1), 0xa1, 'k')
		case 5:
			return append(binary.BigEndian.AppendUint32([]byte{0xdf}, 1), 0xa1, 'k')
		}
		h = append(h, scalars...)
		for _, e := range exts {
			h = append(h, e...)
		}
		return h
	}
	build := func(depth int) []byte {
		var b []byte
		for i := range depth - 1 {
			b = append(b, level(i)...)
		}
		return append(b, 0x90, 0x80, 0xc0)[:len(b)+1] // the innermost: an empty list
	}
	for _, depth := range []int{maxDepth - 1, maxDepth} {
		if tooDeep(build(depth)) {
			t.Errorf("%d levels: too deep", depth)
		}
	}
	b := build(maxDepth + 1)
	if !tooDeep(b) {
		t.Errorf("%d levels: not too deep", maxDepth+1)
	}
	if tooDeep(b[:len(b)/2]) {
		t.Error("truncated: too deep (the decoder should say truncated)")
	}
	// A run of items: each is judged, not only the first.
	if !tooDeepItems(append(append([]byte{0x01}, scalars...), deepList(maxDepth+1)...)) {
		t.Error("a deep item after others: not too deep")
	}
	if tooDeepItems(append(bytes.Repeat([]byte{0x90}, maxDepth+1), deepList(maxDepth)...)) {
		t.Error("many shallow items: too deep")
	}
	if tooDeepItems(append(bytes.Clone(large), deepList(maxDepth)...)) {
		t.Error("str32 and bin32, then a list as deep as allowed: too deep")
	}
	if !tooDeepItems(append(bytes.Clone(large), deepList(maxDepth+1)...)) {
		t.Error("str32 and bin32, then a list too deep: not too deep")
	}
}

// BenchmarkTooDeep: the scan's cost on a W1-shaped messages list (100 maps
// of role and content), beside what decoding the same bytes costs.
func BenchmarkTooDeep(b *testing.B) {
	msgs := make([]any, 100)
	for i := range msgs {
		msgs[i] = map[string]any{"role": "user", "content": strings.Repeat("word ", 44), "id": int64(i)}
	}
	raw, err := encodeValue("value", msgs)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if tooDeep(raw) {
				b.Fatal("too deep")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := raw.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
