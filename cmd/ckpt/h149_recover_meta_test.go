//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h149KilledMetaDamaged makes in dir a store file f.db as a writer killed
// right after it acknowledged 3 checkpoints in its log only leaves it (the
// file at the read-write Open's commit that bound that log, after 2
// checkpoints of a session closed before), with that newest transaction's
// meta page damaged; and the ids of all 5. The file is copied right after
// the Open and the log once the 3 saves returned: no bbolt commit in
// between (Metrics.BoltCommits the same) means the applier took none of
// the log, so the copies are what a kill leaves. The cmd tests cannot hold
// the applier as the core's do (h145KilledMetaDamaged): a build whose
// applier ran in between is made again.
func h149KilledMetaDamaged(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	for attempt := range 20 {
		src := filepath.Join(t.TempDir(), "f.db")
		s, err := ckpt.Open(src, ckpt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		save := func(i int) {
			id, err := s.Save(ctx, "t", map[string]any{"step": int64(i)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		save(0)
		save(1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = ckpt.Open(src, ckpt.Options{}); err != nil {
			t.Fatal(err)
		}
		before := s.Metrics().BoltCommits
		file, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for i := 2; i < 5; i++ {
			save(i)
		}
		log, err := os.ReadFile(src + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		applied := s.Metrics().BoltCommits != before
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if applied {
			t.Logf("attempt %d: the applier ran; again", attempt)
			continue
		}
		ps := int(binary.LittleEndian.Uint32(file[16+8:]))
		newest := 0
		if binary.LittleEndian.Uint64(file[ps+16+48:]) > binary.LittleEndian.Uint64(file[16+48:]) {
			newest = 1
		}
		file[newest*ps+16+40] ^= 0x04 // its high-water page id: the checksum fails
		if err := os.WriteFile(filepath.Join(dir, "f.db"), file, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.db-wal"), log, 0o600); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	t.Fatal("the applier ran before every copy of the log")
	return nil
}

// A killed store whose newest meta page (the Open's commit that bound the
// log holding 3 acknowledged checkpoints) is damaged: recover replaces
// the page in the commit that replays the log's groups past the other
// page's transaction, and nothing is lost; it said only that it "rewrote
// the damaged meta page from the other one: the file now stands at that
// transaction", and --json had nothing else to tell the two apart. It
// must say the groups were replayed and nothing lost, and --json carry it.
func TestRecoverOfADamagedMetaPageSaysTheLogWasReplayed(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		dir := t.TempDir()
		ids := h149KilledMetaDamaged(t, dir)
		r := h149Recover(t, dir, asJSON)
		if asJSON {
			var got struct {
				MetaRepaired bool `json:"meta_repaired"`
				MetaReplayed bool `json:"meta_replayed"`
				KeptGroups   int  `json:"kept_groups"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("recover --json: %v\n%s", err, r)
			}
			if !got.MetaRepaired || !got.MetaReplayed || got.KeptGroups != 3 {
				t.Errorf("recover --json = %+v; want the meta page repaired by the replay of the log's 3 groups\n%s", got, r)
			}
		} else if strings.Contains(r.stdout, "now stands at that transaction") || !strings.Contains(r.stdout, "replayed 3 groups") ||
			!strings.Contains(r.stdout, "nothing was lost") {
			t.Errorf("recover of a damaged meta page whose log it replayed must say the 3 groups were replayed and nothing lost:\n%s", r)
		}
		s, err := ckpt.Open(filepath.Join(dir, "f.db"), ckpt.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("open after recover: %v", err)
		}
		for _, id := range ids {
			if _, err := s.Load(context.Background(), "t", id); err != nil {
				t.Errorf("acknowledged checkpoint %s after recover: %v", id, err)
			}
		}
		_ = s.Close()
	}
}

// h149Recover runs `ckpt recover f.db` in dir (with --json if asJSON),
// which must exit 0.
func h149Recover(t *testing.T, dir string, asJSON bool) result {
	t.Helper()
	args := []string{"recover", "f.db"}
	if asJSON {
		args = append(args, "--json")
	}
	r := h31Exec(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("recover:\n%s", r)
	}
	return r
}
