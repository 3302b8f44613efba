package ckpt

// A dump missing a record (a line deleted by hand or by a tool, its end
// line's counts left or made to agree) must not import into a store
// whose reads then fail (a list without a segment: ErrCorrupt; a
// checkpoint without its value: "no value stored"): Import promises every
// record checked before it is written. A checkpoint line removed is not
// such a gap (a child whose parent was dropped is what retention leaves).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

func TestImportOfADumpMissingARecordFailsOrVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	var items []any
	for i := range 6 {
		items = append(items, fmt.Sprintf("message %d", i))
		if _, err := src.Save(ctx, "a", map[string]any{"messages": items, "n": int64(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := src.Export(ctx, &buf, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	kindOf := func(l string) string {
		var rec struct{ Kind string }
		_ = json.Unmarshal([]byte(l), &rec)
		return rec.Kind
	}
	// fixEnd makes the end line's count of kind one less (a dump whose
	// summary agrees with what it holds).
	fixEnd := func(ls []string, kind string) []string {
		out := append([]string(nil), ls...)
		for i, l := range out {
			if kindOf(l) != "end" {
				continue
			}
			var end map[string]any
			if err := json.Unmarshal([]byte(l), &end); err != nil {
				t.Fatal(err)
			}
			key := map[string]string{"checkpoint": "checkpoints", "value": "values", "segment": "segments"}[kind]
			end[key] = end[key].(float64) - 1
			b, _ := json.Marshal(end)
			out[i] = string(b) + "\n"
		}
		return out
	}
	tried := 0
	for i, l := range lines {
		kind := kindOf(l)
		if kind != "segment" && kind != "value" && kind != "checkpoint" {
			continue
		}
		rest := append(append([]string(nil), lines[:i]...), lines[i+1:]...)
		for _, agreed := range []bool{false, true} {
			dump := rest
			if agreed {
				dump = fixEnd(rest, kind)
			}
			what := fmt.Sprintf("line %d (%s) removed, end line agreeing %v", i+1, kind, agreed)
			dst, err := Open(filepath.Join(t.TempDir(), "dst.db"), Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			_, ierr := dst.Import(ctx, strings.NewReader(strings.Join(dump, "")), ImportOptions{})
			tried++
			if ierr == nil {
				rep, verr := dst.Verify(ctx, VerifyOptions{})
				if verr != nil || len(rep.Problems) > 0 {
					t.Errorf("%s: Import returned nil; Verify: %v, %v", what, verr, rep.Problems)
				}
			} else if !errors.Is(ierr, ErrDump) {
				t.Errorf("%s: Import = %v, want ErrDump", what, ierr)
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tried == 0 {
		t.Fatal("no record line to remove")
	}
}

// TestImportReadBackKeepsTheStoresDamage: what the read-back finds the
// records lack is the dump's fault (ErrDump, not ErrCorrupt); bbolt
// failing on a damaged page on the way is the store's (ErrCorrupt kept,
// not called a malformed dump), and any other failed read stays as it is.
func TestImportReadBackKeepsTheStoresDamage(t *testing.T) {
	t.Parallel()
	lack := readBackErr("a", fmt.Errorf("%w: channel x: no value stored", ErrCorrupt))
	if !errors.Is(lack, ErrDump) || errors.Is(lack, ErrCorrupt) {
		t.Errorf("a record missing: %v, want ErrDump and not ErrCorrupt", lack)
	}
	page := readBackErr("a", engine.Guard("read", func() error { panic("page 7: invalid page type") }))
	if errors.Is(page, ErrDump) || !errors.Is(page, ErrCorrupt) || !engine.FromPanic(page) {
		t.Errorf("a damaged page: %v, want ErrCorrupt from bbolt's panic and not ErrDump", page)
	}
	io := errors.New("read: input/output error")
	if got := readBackErr("a", io); got != io {
		t.Errorf("a failed read: %v, want it as it is", got)
	}
}
