package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/pagedamage"
)

// TestDuplicatedElementIsNoticed: a flipped byte in a leaf element's key
// position (bbolt keeps no checksum of a page) can point the element at
// its neighbour's key and value: the page then holds that record twice and
// the element's own not at all, every sum valid. A walk yielded the same
// key twice (a scan let an equal key through), so Export dumped the thread
// with one checkpoint twice and another missing, and Thread counted 300 of
// 300, with no error (the fault hunt of TestH164FlipSweep, plain, seed
// 13051: Export p0 a wrong answer). Both must be ErrCorrupt.
func TestDuplicatedElementIsNoticed(t *testing.T) {
	t.Parallel()
	for _, sub := range [][]byte{bucketOrder, bucketCheckpoints} {
		t.Run(string(sub), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Options{NoWAL: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 300 {
				if _, err := s.Save(ctx, "t", map[string]any{"n": i}, Metadata{"step": i}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			root, ps, data := bucketRoot(t, path, bucketThreads, []byte("t"), sub)
			base := root * ps
			if binary.LittleEndian.Uint16(data[base+8:]) == 0x01 { // a branch: its first child
				base = int(binary.LittleEndian.Uint64(data[base+16+8:])) * ps
			}
			if flags := binary.LittleEndian.Uint16(data[base+8:]); flags != 0x02 {
				t.Fatalf("page at %d is not a leaf (flags %#x)", base/ps, flags)
			}
			// Element 2 points at element 3's key (pos is relative to the
			// element; element 3 lies 16 bytes on).
			e := base + 16 + 16*2
			binary.LittleEndian.PutUint32(data[e+4:], binary.LittleEndian.Uint32(data[e+16+4:])+16)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				if errors.Is(err, ErrCorrupt) {
					return
				}
				t.Fatal(err)
			}
			defer ro.Close()
			var buf bytes.Buffer
			if _, err := ro.Export(ctx, &buf, ExportOptions{Threads: []string{"t"}}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Export of a thread whose %s/ page holds an element twice: %v, want ErrCorrupt", sub, err)
			}
			if info, err := ro.Thread(ctx, "t"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Thread of a thread whose %s/ page holds an element twice: %d checkpoints, %v; want ErrCorrupt", sub, info.Checkpoints, err)
			}
		})
	}
}

// bucketRoot returns the root page of the bucket at path names (none: the
// root bucket) in the closed bbolt file at path, the file's page size and
// its bytes: where a test damages a page.
func bucketRoot(t *testing.T, path string, names ...[]byte) (root, pageSize int, data []byte) {
	t.Helper()
	root, pageSize, data, err := pagedamage.BucketRoot(path, names...)
	if err != nil {
		t.Fatal(err)
	}
	return root, pageSize, data
}
