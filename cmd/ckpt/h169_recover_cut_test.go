//go:build unix

package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// A killed writer's log (h166Writer: 12 saves) with a flipped byte in the
// proof after its first record (the chain is taken up again past it) and
// the proofs of its last two groups lost, as a power cut during the last
// group's fsync may leave them: the last group's record is a power cut's
// and is dropped. `ckpt recover` said "nothing was lost with it: kept
// every group ..., dropped none" (kept_all in --json). It must say that
// the last group was dropped as a power cut's, and not that nothing was
// lost.
func TestRecoverDoesNotSayNothingWasLostOfAPowerCutsTail(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		dir, p := h169KilledWriter(t)
		data, err := os.ReadFile(p + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		spans := engine.RecordSpans(data)
		if len(spans) < 4 || spans[0].Proof || !spans[1].Proof || spans[len(spans)-1].Gen != 12 {
			t.Fatalf("the log's records %v: want a group's record, then its proof, ..., group 12 last", spans)
		}
		for _, r := range spans {
			if r.Proof && r.Gen >= 11 {
				clear(data[r.Off:r.End])
			}
		}
		data[spans[1].End-8] ^= 0x01
		if err := os.WriteFile(p+"-wal", data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := h149Recover(t, dir, asJSON)
		if asJSON {
			var got struct {
				KeptAll  bool   `json:"kept_all"`
				Dropped  uint64 `json:"dropped_groups"`
				First    uint64 `json:"dropped_first_group"`
				PowerCut bool   `json:"power_cut"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("recover --json: %v\n%s", err, r)
			}
			if got.KeptAll || got.Dropped != 1 || got.First != 12 || !got.PowerCut {
				t.Errorf("recover --json = %+v, want group 12 dropped as a power cut's, not kept_all:\n%s", got, r)
			}
		} else if strings.Contains(r.stdout, "nothing was lost") || !strings.Contains(r.stdout, "group 12") {
			t.Errorf("recover says:\n%s\nwant it to name group 12, dropped, and not say nothing was lost", r)
		}
	}
}

// h169KilledWriter runs h166Writer into a new directory until the file's
// mark (the last group bbolt took) leaves groups 10-12 to the log alone:
// the applier runs beside the writer, and a slow run (-race) may let it
// catch up with every group (then the test is skipped). It returns the
// directory and the store's path.
func h169KilledWriter(t *testing.T) (string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var mark uint64
	for try := 0; try < 8; try++ {
		dir := t.TempDir()
		p := filepath.Join(dir, "f.db")
		w := exec.Command(exe)
		w.Env = append(os.Environ(), h166WriterEnv+"="+p)
		if _, err := w.Output(); err != nil {
			t.Fatalf("writer: %v", err)
		}
		db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		mark = 0
		err = db.View(func(tx *bolt.Tx) error {
			if m := tx.Bucket([]byte("meta")).Get([]byte("wal-applied")); len(m) == 8 {
				mark = binary.BigEndian.Uint64(m)
			}
			return nil
		})
		_ = db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if mark < 10 {
			return dir, p
		}
	}
	// A slow build (-race) lets the applier keep up every time: the
	// image cannot be made here (TestKeptAllIsNotSaidOfAPowerCutsTail, in
	// package ckpt, holds the applier and makes it always).
	t.Skipf("8 killed writers: bbolt took groups up to %d in the last, none left to the log alone", mark)
	return "", ""
}
