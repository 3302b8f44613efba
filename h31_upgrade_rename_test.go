package ckpt

// A file of format 6 keeps no directory of threads: a thread is found by
// its bucket's name alone, a key no record sum covers, though every
// record's sum covers the thread's name. The upgrade to format 8 lists
// every thread bucket it finds in the directory (dirStep): a name that
// damage changed was listed as it read, and from then on the file, with
// format 8's promise that a thread listed is found, had lost the thread
// without a word: GetTuple said ErrNotFound (h31-oldfmt hunt, seed 40426:
// '-' of "put-0" changed in a format-6 file).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestUpgradeOfARenamedThreadIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, format := range []uint32{6, 7} {
		path := filepath.Join(t.TempDir(), "f.ckpt")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range []string{"alpha", "mmm-x", "zulu"} {
			for i := range 3 {
				if _, err := s.Save(ctx, th, map[string]any{"n": i}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		toFormat(t, s, format)
		if format == 7 {
			// A file of format 7 written before the directory joined it.
			if err := s.write(ctx, func(w writer) error { return w.DropBucket(dirPath) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// "mmm-x" renamed "mmm-y" where it is a bucket's name (not after
		// its length, as in index keys): it still sorts where it was.
		n := 0
		for i := 2; i < len(b); i++ {
			j := bytes.Index(b[i:], []byte("mmm-x"))
			if j < 0 {
				break
			}
			i += j
			if b[i-2] != 0 || b[i-1] != 5 {
				b[i+4] = 'y'
				n++
			}
		}
		if n == 0 {
			t.Fatal("thread name not found in the file")
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("format %d: Open = %v, want nil or ErrCorrupt", format, err)
			}
			continue
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: "mmm-x"}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("format %d: upgraded, GetTuple of the renamed thread = %v, want ErrCorrupt (or Open's)", format, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
