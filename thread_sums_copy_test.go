package ckpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// threadState describes every checkpoint of one thread as storeState does,
// without the thread id, so a copy compares equal to its source.
func threadState(t *testing.T, s *Store, thread string) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(context.Background(), ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatalf("List of %q: %v", thread, err)
		}
		vals := map[string]any{}
		for ch, raw := range tp.Checkpoint.ChannelValues {
			v, err := raw.(Raw).Value()
			if err != nil {
				t.Fatalf("thread %q channel %q: %v", thread, ch, err)
			}
			vals[ch] = v
		}
		var writes []any
		for _, w := range tp.PendingWrites {
			v, err := w.Value.Value()
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, []any{w.TaskID, w.Idx, w.Channel, v})
		}
		b, err := json.Marshal([]any{tp.Config.CheckpointNS, tp.Config.CheckpointID, vals, tp.Metadata, writes})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// threadSums counts the records of one thread with a sum over their
// thread (format 6) and with any other.
func threadSums(t *testing.T, s *Store, thread string) (threaded, other int) {
	t.Helper()
	err := s.view(context.Background(), func(r reader) error {
		for _, sub := range sealedSubBuckets {
			if err := r.Scan(threadPath(thread, sub), nil, nil, false, func(_, v []byte) error {
				if len(v) > 0 && v[0]&sumMask == sumThreaded {
					threaded++
				} else {
					other++
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return threaded, other
}

// TestCopyThreadSumsRecordsUnderTheCopy: CopyThread checks each record
// under its source thread and writes it with a sum over the new thread, so
// the copy reads back as its source and Verify is clean, whether the
// source's records carry format 6's sums (over their thread) or format
// 5's (a file upgraded by its marker).
func TestCopyThreadSumsRecordsUnderTheCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, from := range []uint32{5, formatVersion} {
		t.Run(fmt.Sprint("format=", from), func(t *testing.T) {
			t.Parallel()
			var s *Store
			if from == formatVersion {
				s = newInspectStore(t)
				fillForUpgrade(t, s)
			} else {
				path, _ := formatFile(t, from)
				var err error
				if s, err = Open(path, Options{Durability: NoSync}); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			if threaded, other := threadSums(t, s, "lists"); from == 5 && threaded != 0 || from == formatVersion && other != 0 {
				t.Fatalf("source: %d records summed over their thread, %d not", threaded, other)
			}
			if err := s.CopyThread(ctx, "lists", "lists-copy", CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			want := threadState(t, s, "lists")
			if got := threadState(t, s, "lists-copy"); !slices.Equal(got, want) {
				t.Fatalf("the copy reads back otherwise:\n got %q\nwant %q", got, want)
			}
			if threaded, other := threadSums(t, s, "lists-copy"); threaded == 0 || other != 0 {
				t.Fatalf("copy: %d records summed over their thread, %d not", threaded, other)
			}
			if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
				t.Fatalf("Verify: %v %v", err, rep.Problems)
			}
		})
	}
}

// TestCopyThreadKeepsADamagedRecordDamaged: a record whose sum fails in
// the source thread is copied as it is, not summed again under the copy:
// the copy's reads report it (ErrCorrupt) instead of reading the damaged
// value as sound.
func TestCopyThreadKeepsADamagedRecordDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, cfg, recs := everyKindStore(t, false)
	for _, rec := range recs {
		if rec.kind == string(bucketCheckpoints) || rec.kind == string(bucketMetadata) {
			continue // a copy of a thread with a damaged checkpoint is refused earlier or later alike
		}
		t.Run(rec.kind+fmt.Sprintf("/%x", rec.key), func(t *testing.T) {
			bad := bytes.Clone(rec.val)
			bad[len(bad)/2] ^= 0x10
			putRecord(t, s, rec, bad)
			defer putRecord(t, s, rec, rec.val)
			if err := s.CopyThread(ctx, "t", "copy", CopyOptions{Replace: true}); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("CopyThread: %v, want success or ErrCorrupt", err)
				}
				return
			}
			corrupt := 0
			for name, read := range recordReads(s, Config{ThreadID: "copy", CheckpointID: cfg.CheckpointID}) {
				if _, err := read(); errors.Is(err, ErrCorrupt) {
					corrupt++
				} else if err != nil {
					t.Errorf("%s of the copy: %v, want ErrCorrupt or a value", name, err)
				}
			}
			if corrupt == 0 {
				t.Errorf("every read of the copy succeeded: the damaged %s record was summed again", rec.kind)
			}
		})
	}
}

// TestImportChecksRecordsUnderTheDumpsThread: a dump of a format-6 store
// imports into a new one with every record summed over its thread and
// reads back the same; the same dump with a thread renamed in it is
// refused (each record's sum covers the thread it was exported from, as
// each seal does) and leaves nothing behind.
func TestImportChecksRecordsUnderTheDumpsThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newInspectStore(t)
	fillForUpgrade(t, src)
	dump := export(t, src, "lists")
	want := threadState(t, src, "lists")

	dst := newInspectStore(t)
	if _, err := dst.Import(ctx, bytes.NewReader(dump), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := threadState(t, dst, "lists"); !slices.Equal(got, want) {
		t.Fatalf("imported thread reads back otherwise")
	}
	if threaded, other := threadSums(t, dst, "lists"); threaded == 0 || other != 0 {
		t.Fatalf("imported: %d records summed over their thread, %d not", threaded, other)
	}

	renamed := bytes.ReplaceAll(dump, []byte(`"thread":"lists"`), []byte(`"thread":"lists2"`))
	if bytes.Equal(renamed, dump) {
		t.Fatal("no thread field renamed in the dump")
	}
	other := newInspectStore(t)
	if _, err := other.Import(ctx, bytes.NewReader(renamed), ImportOptions{}); err == nil {
		t.Fatal("a dump whose thread was renamed imported with no error")
	}
	if got := threadState(t, other, "lists2"); len(got) != 0 {
		t.Fatalf("the refused import left %d checkpoints", len(got))
	}
}
