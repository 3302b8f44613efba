package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// bbolt's meta pages: page 0 and page 1 of the file, each a 16-byte page
// header and then the meta itself, whose first 64 bytes (up to and
// including its checksum) bbolt validates. bbolt writes the meta of
// transaction t to page t%2 and uses the valid one with the higher id.
const (
	metaBodyAt  = 16
	metaBodyLen = 64
	metaTxidAt  = metaBodyAt + 48
)

// metaPages returns the page size and which meta page (0 or 1) holds the
// newer transaction of the closed store file data.
func metaPages(t *testing.T, data []byte) (ps, newest int) {
	t.Helper()
	ps = int(binary.LittleEndian.Uint32(data[metaBodyAt+8:]))
	if ps < 512 || 2*ps > len(data) {
		t.Fatalf("page size %d in a file of %d bytes", ps, len(data))
	}
	if binary.LittleEndian.Uint64(data[ps+metaTxidAt:]) > binary.LittleEndian.Uint64(data[metaTxidAt:]) {
		newest = 1
	}
	return ps, newest
}

// twoSessions makes a closed store (no log left) whose last session
// stored a checkpoint of its own: the newest bbolt transaction holds it.
func twoSessions(t *testing.T, opts Options) (path, first, last string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "s.db")
	for i := range 2 {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"step": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		} else {
			last = id
		}
	}
	if _, err := os.Stat(path + walSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a clean Close left the log: %v", err)
	}
	return path, first, last
}

// TestDamagedMetaPageIsReported: a flipped byte in either of bbolt's meta
// pages of a cleanly closed store makes bbolt fall back to the other one
// without a word, and when the damaged one was the newer, its transaction
// (here the last session's checkpoint, acknowledged and applied) is gone.
// No log holds it any more, so a read-write Open refuses the file with
// ErrCorrupt and leaves it as it was (its first commit would overwrite the
// damaged page, the only trace of what was lost), and a read-only Open
// still reads what the other meta page holds while its Verify reports the
// damaged page. Every byte bbolt validates, in the newer and in the older
// page, WAL and NoWAL.
func TestDamagedMetaPageIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		path, first, last := twoSessions(t, Options{NoWAL: nowal})
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ps, newest := metaPages(t, orig)
		for _, which := range []int{newest, 1 - newest} {
			for at := metaBodyAt; at < metaBodyAt+metaBodyLen; at++ {
				data := bytes.Clone(orig)
				data[which*ps+at] ^= 0x10
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := Open(path, Options{NoWAL: nowal})
				if err == nil {
					_, lerr := s.Load(ctx, "t", last)
					_ = s.Close()
					t.Errorf("nowal %v, meta page %d (newest %d), byte %d flipped: read-write Open = nil (the last checkpoint: %v), want ErrCorrupt", nowal, which, newest, at, lerr)
				} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "meta page") {
					t.Errorf("nowal %v, meta page %d, byte %d flipped: read-write Open = %v, want ErrCorrupt naming the meta page", nowal, which, at, err)
				}
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
					t.Errorf("nowal %v, meta page %d, byte %d flipped: the refused Open changed the file (%v)", nowal, which, at, err)
				}
				ro, err := Open(path, Options{ReadOnly: true})
				if err != nil {
					t.Errorf("nowal %v, meta page %d, byte %d flipped: read-only Open: %v", nowal, which, at, err)
					continue
				}
				if _, err := ro.Load(ctx, "t", first); err != nil {
					t.Errorf("nowal %v, meta page %d, byte %d flipped: read-only Load of the first checkpoint: %v", nowal, which, at, err)
				}
				rep, err := ro.Verify(ctx, VerifyOptions{})
				if err != nil || rep.OK() || !strings.Contains(rep.Problems[0].Detail, "meta page") {
					t.Errorf("nowal %v, meta page %d, byte %d flipped: Verify = %+v, %v; want the damaged meta page reported", nowal, which, at, rep, err)
				}
				_ = ro.Close()
			}
		}
	}
}

// TestDamagedMetaPageWithTheLogBehindItOpens: when the log still holds
// every group past the mark of the meta page bbolt falls back to (what a
// power cut while an apply commit wrote its meta page leaves), nothing
// acknowledged is lost: Open replays the log and every checkpoint is
// there.
func TestDamagedMetaPageWithTheLogBehindItOpens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"step": 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openUnapplied(t, path) // its Open commits once; the groups stay in the log
	var ids []string
	for i := 1; i <= 3; i++ {
		id, err := s.Save(ctx, "t", map[string]any{"step": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cp := crashCopy(t, s)
	data, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	ps, newest := metaPages(t, data)
	data[newest*ps+metaBodyAt+20] ^= 0x10
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("Open with the log holding every group past the older meta page: %v", err)
	}
	defer s2.Close()
	for _, id := range ids {
		if _, err := s2.Load(ctx, "t", id); err != nil {
			t.Errorf("checkpoint %s after the replay: %v", id, err)
		}
	}
	if rep, err := s2.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify after the replay: %+v, %v", rep, err)
	}
}

// TestRecoverRewritesADamagedMetaPage: RecoverLog (`ckpt recover`) is the
// way out of the refusal: it rewrites the damaged meta page from the
// other one and says so; the store then opens read-write at the other
// page's transaction, verifies clean, writes and reopens. A store without
// damage is left alone. (The newest transaction of a cleanly closed store
// is Close's clearing of the live mark (meta/wal-live): a step back from it
// loses no checkpoint, only that mark, and the file then says its log is
// live with none beside it, which recovery accepts as well.)
func TestRecoverRewritesADamagedMetaPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, damageNewest := range []bool{true, false} {
		path, first, last := twoSessions(t, Options{})
		if st, err := RecoverLog(path, Options{}); err != nil || st.MetaRepaired || st.Damaged {
			t.Fatalf("RecoverLog on a whole store = %+v, %v; want nothing done", st, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ps, newest := metaPages(t, data)
		which := newest
		if !damageNewest {
			which = 1 - newest
		}
		data[which*ps+metaBodyAt+40] ^= 0x04 // the high-water mark
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with meta page %d damaged = %v, want ErrCorrupt", which, err)
		}
		st, err := RecoverLog(path, Options{})
		if err != nil || !st.MetaRepaired || !strings.Contains(st.MetaDamage, "meta page") || st.Damaged || st.LogMissing != damageNewest {
			t.Fatalf("RecoverLog = %+v, %v; want the meta page repaired (and no log damage; the live mark cleared: %v)", st, err, damageNewest)
		}
		for round := range 2 {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open after the repair (round %d): %v", round, err)
			}
			if _, err := s.Load(ctx, "t", first); err != nil {
				t.Errorf("the first session's checkpoint after the repair: %v", err)
			}
			if _, err = s.Load(ctx, "t", last); err != nil {
				t.Errorf("damaged newest %v: the last session's checkpoint after the repair: %v", damageNewest, err)
			}
			if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
				t.Errorf("Verify after the repair: %+v, %v", rep, err)
			}
			if _, err := s.Save(ctx, "t", map[string]any{"step": 10 + round}, nil); err != nil {
				t.Errorf("Save after the repair: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestTornCreationStillOpens: a power cut while bbolt writes a new file's
// first pages can leave one meta page unwritten (zeros). No commit has
// run on such a file (the page in use is one of bbolt's own initial
// pair), so nothing can be lost: a read-write Open takes it as a new
// store, as before the meta page check.
func TestTornCreationStillOpens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, page := range []int{0, 1} {
		path := filepath.Join(t.TempDir(), "s.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps := db.Info().PageSize
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if page == 1 {
			clear(data[ps : 2*ps])
		} else {
			// Page 0 unwritten: bbolt then takes the page size from the
			// OS, which is the size it wrote with (nil options).
			clear(data[:ps])
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("meta page %d unwritten: Open = %v, want a new store", page, err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
			t.Errorf("meta page %d unwritten: Save: %v", page, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
