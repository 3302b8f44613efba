package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyAfterCompactChecksTheFile: Verify's checks that read the file
// itself (the page walk before bbolt's page check, and the meta pages)
// run on the file at the store's path. After a Compact the bbolt handle
// names the compaction's temporary path (bbolt keeps the name it opened),
// which no longer exists: those checks found no file and were skipped for
// the rest of the session. Here a meta page damaged after a Compact must
// still be reported, with the log and without.
func TestVerifyAfterCompactChecksTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatal(err)
		}
		saveN(t, s, "t", 0, 3)
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		saveN(t, s, "t", 3, 2)
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ps, newest := metaPages(t, data)
		// The older meta page: bbolt keeps reading the newer one, and the
		// next commit rewrites the damaged one.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte{data[(1-newest)*ps+metaBodyAt+20] ^ 0x10}
		if _, err := f.WriteAt(b, int64((1-newest)*ps+metaBodyAt+20)); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || rep.OK() || !strings.Contains(rep.Problems[0].Detail, "meta page") {
			t.Errorf("nowal %v: Verify after a Compact, with a meta page damaged = %+v, %v; want it reported", nowal, rep, err)
		}
		_ = s.Close()
	}
}
