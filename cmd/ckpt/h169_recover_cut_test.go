//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
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
		dir := t.TempDir()
		p := filepath.Join(dir, "f.db")
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		w := exec.Command(exe)
		w.Env = append(os.Environ(), h166WriterEnv+"="+p)
		if _, err := w.Output(); err != nil {
			t.Fatalf("writer: %v", err)
		}
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
