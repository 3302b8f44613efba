package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A damaged meta page 0 of a file made with a page size other than the
// system's (Options.Bolt.PageSize) is found as on any file: the page
// check looked for meta page 1 one system page in (4096) when meta page 0
// could not tell it the page size, found nothing valid there, and let the
// file through; bbolt finds meta page 1 by trying each page size, and
// opened it without a word, the newer transaction lost when it was page
// 0's. A few bytes of each field bbolt validates, in the newer and the
// older page.
func TestDamagedMetaPageIsReportedAtAnyPageSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := Options{Bolt: &bolt.Options{PageSize: 1024}}
	path, first, last := twoSessions(t, opts)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, newest := metaPages(t, orig)
	if ps != 1024 {
		t.Fatalf("page size %d, want 1024", ps)
	}
	for _, which := range []int{newest, 1 - newest} {
		// magic, version, page size, root, txid, checksum
		for _, at := range []int{metaBodyAt, metaBodyAt + 4, metaBodyAt + 8, metaBodyAt + 16, metaTxidAt, metaBodyAt + 56} {
			data := bytes.Clone(orig)
			data[which*ps+at] ^= 0x10
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				_, lerr := s.Load(ctx, "t", last)
				_ = s.Close()
				t.Errorf("meta page %d (newest %d), byte %d flipped: read-write Open = nil (the last checkpoint: %v), want ErrCorrupt", which, newest, at, lerr)
			} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "meta page") {
				t.Errorf("meta page %d, byte %d flipped: read-write Open = %v, want ErrCorrupt naming the meta page", which, at, err)
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
				t.Errorf("meta page %d, byte %d flipped: the refused Open changed the file (%v)", which, at, err)
			}
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Errorf("meta page %d, byte %d flipped: read-only Open: %v", which, at, err)
				continue
			}
			if _, err := ro.Load(ctx, "t", first); err != nil {
				t.Errorf("meta page %d, byte %d flipped: read-only Load of the first checkpoint: %v", which, at, err)
			}
			rep, err := ro.Verify(ctx, VerifyOptions{})
			if err != nil || rep.OK() || !strings.Contains(rep.Problems[0].Detail, "meta page") {
				t.Errorf("meta page %d, byte %d flipped: Verify = %+v, %v; want the damaged meta page reported", which, at, rep, err)
			}
			_ = ro.Close()
		}
	}
}
