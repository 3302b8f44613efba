package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestAFlipBesideARestoredOlderFileKeepsNoEarlierPass: an older copy of a
// store file put back in its place (bound to the log, at its mark),
// beside the log its program left when killed: the log was rewound after
// the copy (bbolt took it all), and its new
// pass holds one group, whose record (with the new pass's short bodies)
// ends before the earlier pass's records of groups past the older file's
// mark, left whole in the file. One bit of any byte of the log's header
// or of that record flipped, with the record's proofs there or not (the
// program killed before it wrote them). Open refuses or serves exactly
// the older file's checkpoints; after RecoverLog the store holds exactly
// them, never a checkpoint of the earlier pass (a group of another pass
// replayed onto the file).
func TestAFlipBesideARestoredOlderFileKeepsNoEarlierPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		// Long values: the earlier pass's records reach past the new one's.
		if _, err := s.Save(ctx, "t", map[string]any{"i": i, "pad": make([]byte, 3000)}, Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	// The file as a copy taken then holds it (bbolt holds every group:
	// its binding names the log at its mark), without its log.
	applyNow(t, s)
	older := crashCopy(t, s)
	want := storeReads(t, copyStore(t, older))
	bak := filepath.Join(dir, "older.db")
	copyFileIn(t, older, bak)
	for i := 5; i < 10; i++ {
		if _, err := s.Save(ctx, "t", map[string]any{"i": i, "pad": make([]byte, 3000)}, Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	applyNow(t, s) // the log starts again
	saveN(t, s, "u", 0, 1)
	cp := crashCopy(t, s)
	log, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	spans := engine.RecordSpans(log)
	if len(spans) < 2 || spans[0].Proof || spans[0].Gen <= readMark(t, bak)+1 {
		t.Fatalf("the log's records %v beside an older file at mark %d: want a new pass past it", spans, readMark(t, bak))
	}
	first := spans[0]
	noProof := append([]byte(nil), log...)
	for _, r := range spans[1:] {
		clear(noProof[r.Off:r.End])
	}
	rounds, refused, served := 0, 0, 0
	// One damaged copy opened at a time: under -race a sample of the
	// positions (CI's plain command sweeps them all).
	keep, pos := raceSample(t, 4), -1
	for _, c := range []struct {
		name string
		log  []byte
	}{{"with its proofs", log}, {"killed before its proof", noProof}} {
		for at := int64(0); at < first.End; at++ {
			if at >= engine.HeaderSize+engine.RecordHeaderSize && at%97 != 0 || at < engine.HeaderSize && at%5 != 0 {
				continue // a sample of the header and of the body
			}
			if pos++; !keep(pos) {
				continue
			}
			what := fmt.Sprintf("%s, byte %d", c.name, at)
			p := filepath.Join(t.TempDir(), "r.db")
			copyFileIn(t, bak, p)
			bad := append([]byte(nil), c.log...)
			bad[at] ^= 0x10
			if err := os.WriteFile(p+walSuffix, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			rounds++
			for _, ro := range []bool{true, false} {
				r, err := Open(copyStore(t, p), Options{ReadOnly: ro})
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: read-only %v: Open: %v, want ErrCorrupt", what, ro, err)
					}
					refused++
					continue
				}
				served++
				_ = r.Close()
				t.Errorf("%s: read-only %v: Open served the older file beside a log that starts past it", what, ro)
			}
			if _, err := RecoverLog(p, Options{}); err != nil {
				t.Fatalf("%s: RecoverLog: %v", what, err)
			}
			if got := storeReads(t, p); got != want {
				t.Errorf("%s: after RecoverLog the store reads\n%s\nwant the older file's\n%s", what, got, want)
			}
		}
	}
	t.Logf("%d flipped logs: Open refused %d, served %d", rounds, refused, served)
}
