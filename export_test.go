package ckpt

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fillForExport stores threads with what a dump must carry: namespaces,
// names that are not UTF-8, special writes, an empty channel version and
// forked history.
func fillForExport(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	putChain(t, s, "t1", "", 3)
	putChain(t, s, "t1", "sub", 2)
	putChain(t, s, "bad\xffthread", "ns\xfe", 2)
	cfg, err := s.Put(ctx, Config{ThreadID: "t2"}, Checkpoint{V: 4, ChannelValues: map[string]any{"x": []any{1, "two"}},
		ChannelVersions: map[string]string{"x": "1", "gone": "1"}, VersionsSeen: map[string]map[string]string{"n": {"x": "1"}}},
		Metadata{"nested": map[string]any{"k": []any{1.5, true}}}, map[string]string{"x": "1", "gone": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, fork := range []string{"left", "right"} {
		if _, err := s.Put(ctx, cfg, Checkpoint{ChannelValues: map[string]any{"x": fork}, ChannelVersions: map[string]string{"x": fork}},
			Metadata{"fork": fork}, map[string]string{"x": fork}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: ChannelInterrupt, Value: "ask"}, {Channel: "ch\xff", Value: nil}}, "task\xff", ""); err != nil {
		t.Fatal(err)
	}
}

func export(t *testing.T, s *Store, threads ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Export(context.Background(), &buf, ExportOptions{Threads: threads}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportImportExportIsByteIdentical(t *testing.T) {
	t.Parallel()
	src := newInspectStore(t)
	fillForExport(t, src)
	dump := export(t, src)
	dst := newInspectStore(t)
	sum, err := dst.Import(context.Background(), bytes.NewReader(dump), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Threads != 3 || sum.Checkpoints != 10 {
		t.Fatalf("import summary = %+v", sum)
	}
	if again := export(t, dst); !bytes.Equal(dump, again) {
		t.Fatalf("second export differs:\n%s\n---\n%s", dump, again)
	}
	// Reading through the API gives the same tuples.
	for _, thread := range []string{"t1", "t2", "bad\xffthread"} {
		a, b := listAll(t, src, thread), listAll(t, dst, thread)
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Fatalf("thread %q: tuples differ after import:\n%+v\n%+v", thread, a, b)
		}
	}
	rep, err := dst.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify after import: %+v, %v", rep, err)
	}
	// New checkpoints written after an import sort after the imported ones.
	cfg, err := dst.Put(context.Background(), Config{ThreadID: "t3"}, Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tp, err := range dst.List(context.Background(), ListOptions{Limit: 1}) {
		if err != nil || tp.Config.CheckpointID != cfg.CheckpointID {
			t.Fatalf("newest after import = %v, %v; want %s", tp, err, cfg.CheckpointID)
		}
	}
}

func listAll(t *testing.T, s *Store, thread string) []*Tuple {
	t.Helper()
	var out []*Tuple
	for tp, err := range s.List(context.Background(), ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tp)
	}
	return out
}

func TestExportSelectedThreadsAndUnknownThread(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	fillForExport(t, s)
	dump := string(export(t, s, "t2"))
	if strings.Contains(dump, `"t1"`) || !strings.Contains(dump, `"t2"`) {
		t.Fatalf("export of t2 holds other threads:\n%s", dump)
	}
	var buf bytes.Buffer
	if _, err := s.Export(context.Background(), &buf, ExportOptions{Threads: []string{"t2", "nope"}}); !errors.Is(err, ErrNotFound) || buf.Len() != 0 {
		t.Fatalf("export of unknown thread: %v, wrote %d bytes", err, buf.Len())
	}
}

// TestImportFailureLeavesStoreAsItWas feeds broken dumps into a store that
// already holds a thread: each fails with a clear error, and afterwards the
// store holds exactly what it held before.
func TestImportFailureLeavesStoreAsItWas(t *testing.T) {
	t.Parallel()
	src := newInspectStore(t)
	fillForExport(t, src)
	dump := string(export(t, src))
	lines := strings.SplitAfter(strings.TrimSuffix(dump, "\n"), "\n")
	cases := []struct {
		name  string
		input string
		want  error
		msg   string
	}{
		{"empty", "", ErrDump, "empty"},
		{"no header", strings.Join(lines[1:], ""), ErrDump, "line 1"},
		{"future format", `{"ckpt_export":99}` + "\n", ErrFormatVersion, "99"},
		{"truncated", strings.Join(lines[:len(lines)-1], ""), ErrDump, "truncated"},
		{"bad json", strings.Join(lines[:3], "") + "{oops\n", ErrDump, "line 4"},
		{"bad record", lines[0] + lines[1] + `{"kind":"value","thread":"t9","channel":"c","version":"1","data":"CQ=="}` + "\n", ErrDump, "line 3"},
		{"wrong counts", strings.Join(lines[:len(lines)-1], "") + `{"kind":"end","checkpoints":1,"values":0,"writes":0}` + "\n", ErrDump, "end record"},
		{"thread exists", dump, ErrExists, `"keep"`},
	}
	// Small batches, so a failure comes after earlier batches committed and
	// the import must undo them.
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := newInspectStore(t)
			dst.tune.importBatchRecords = 3 // before any import reads it
			putChain(t, dst, "keep", "", 2)
			if c.name == "thread exists" {
				// The dump's last thread clashes; the ones before it were
				// imported and must be removed again.
				if _, err := dst.Put(context.Background(), Config{ThreadID: "t2"}, Checkpoint{}, nil, nil); err != nil {
					t.Fatal(err)
				}
				c.msg = `"t2"`
			}
			before := export(t, dst)
			_, err := dst.Import(context.Background(), strings.NewReader(c.input), ImportOptions{})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Import = %v, want %v mentioning %s", err, c.want, c.msg)
			}
			if after := export(t, dst); !bytes.Equal(before, after) {
				t.Fatalf("store changed by a failed import:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func TestImportStreamsInBatches(t *testing.T) {
	t.Parallel()
	src := newInspectStore(t)
	putChain(t, src, "long", "", defaultTuning().importBatchRecords/2) // more records than one batch
	dump := export(t, src)
	dst := newInspectStore(t)
	batches := 0
	if _, err := dst.Import(context.Background(), bytes.NewReader(dump), ImportOptions{Progress: func(int64) { batches++ }}); err != nil {
		t.Fatal(err)
	}
	if batches < 3 {
		t.Fatalf("import committed %d batches, want several", batches)
	}
	if again := export(t, dst); !bytes.Equal(dump, again) {
		t.Fatal("second export differs")
	}
}

func TestPendingWriteOfNilReadsBackAsNil(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	cfg, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "c", Value: nil}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tp.PendingWrites[0].Value.Value()
	if err != nil || v != nil {
		t.Fatalf("nil write reads back as %v, %v", v, err)
	}
}

func TestImportedListLineagesKeepGrowing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newInspectStore(t)
	var msgs []string
	parent := Config{ThreadID: "chat"}
	for i := range 40 {
		msgs = append(msgs, strings.Repeat("m", 20)+string(rune('a'+i%26)))
		if i == 20 {
			msgs[0] = "edited" // a second lineage
		}
		v := string(rune('A' + i))
		c, err := src.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": msgs}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
		if err != nil {
			t.Fatal(err)
		}
		parent = c
	}
	dump := export(t, src)
	if !bytes.Contains(dump, []byte(`"kind":"segment"`)) {
		t.Fatal("the dump carries no list segments")
	}
	dst := newInspectStore(t)
	if _, err := dst.Import(ctx, bytes.NewReader(dump), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := listAll(t, src, "chat"), listAll(t, dst, "chat"); !reflect.DeepEqual(a, b) {
		t.Fatal("imported tuples differ")
	}
	// An edit after the import starts a lineage that must not reuse an
	// imported lineage's number (or it would mix their segments).
	next := append([]string{"edited again"}, msgs[1:]...)
	c, err := dst.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": next}, ChannelVersions: map[string]string{"m": "z"}}, nil, map[string]string{"m": "z"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := listAll(t, src, "chat"), listAll(t, dst, "chat")[1:]; !reflect.DeepEqual(a, b) {
		t.Fatal("the edit after the import changed imported checkpoints")
	}
	tp, err := dst.GetTuple(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := tp.Decode("m", &got); err != nil || !reflect.DeepEqual(got, next) {
		t.Fatalf("after import and edit: %v %v", got, err)
	}
}
