package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// ImportFile into a missing path whose last step, the directory's fsync
// after the new file is linked into place, fails: it returned the error
// and left the file at the path, where its doc (and `ckpt import`'s
// "nothing imported, no FILE created") says a failed import leaves no
// file there. An error means nothing at the path.
func TestImportFileFailedDirSyncLeavesNoFile(t *testing.T) {
	ctx := context.Background()
	dump := h148Dump(t, ckpt.Options{}, "a")
	errDir := errors.New("injected: directory fsync")
	opts := ckpt.WithFaultPoints(ckpt.Options{}, 0, func(point string) error {
		if point == "syncdir" {
			return errDir
		}
		return nil
	})
	path := filepath.Join(t.TempDir(), "new.db")
	_, err := ckpt.ImportFile(ctx, path, bytes.NewReader(dump), opts, ckpt.ImportOptions{})
	if !errors.Is(err, errDir) {
		t.Fatalf("ImportFile: %v, want the directory fsync's error", err)
	}
	for _, p := range []string{path, path + "-wal", path + ".import", path + ".import-wal"} {
		if _, serr := os.Stat(p); serr == nil {
			t.Errorf("ImportFile failed (%v), and %s is there", err, filepath.Base(p))
		}
	}
	// The path takes an import again.
	if _, err := ckpt.ImportFile(ctx, path, bytes.NewReader(dump), ckpt.Options{}, ckpt.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := h148Holds(ctx, path, ckpt.Options{}); err != nil || len(got) != 1 || got["a"] != "value of a" {
		t.Fatalf("after ImportFile again: %v %v", got, err)
	}
}

// h148Dump returns the dump of a store holding one checkpoint in thread,
// whose value names the thread.
func h148Dump(t *testing.T, opts ckpt.Options, thread string) []byte {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "src.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(ctx, thread, map[string]any{"v": "value of " + thread}, ckpt.Metadata{"tag": thread}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// h148Holds reports the threads of the store at path (with the value each
// holds), or the error opening or reading it gave.
func h148Holds(ctx context.Context, path string, opts ckpt.Options) (map[string]string, error) {
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	got := map[string]string{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			return got, err
		}
		var v string
		if err := tp.Decode("v", &v); err != nil {
			return got, err
		}
		got[tp.Config.ThreadID] = v
	}
	return got, nil
}
