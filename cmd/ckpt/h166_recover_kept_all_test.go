//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
)

const h166WriterEnv = "CKPT_TEST_H166_WRITER"

func init() {
	if path := os.Getenv(h166WriterEnv); path != "" {
		os.Exit(h166Writer(path))
	}
}

// h166Writer saves 12 checkpoints of thread t into the store at path,
// printing each id once acknowledged, and exits without Close: the log
// stays as a killed writer leaves it.
func h166Writer(path string) int {
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range 12 {
		id, err := s.Save(context.Background(), "t", map[string]any{"i": i}, ckpt.Metadata{"i": i})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(id)
	}
	return 0
}

// A killed writer's log with a flipped byte in the proof after its first
// record (version 5 pads a proof to the next 4 KiB block: most of a log's
// bytes are proofs, where a random flip lands most): Open refuses it, and
// `ckpt recover` kept the first group and dropped the 11 acknowledged
// ones after it. Nothing was lost with a proof: recover must keep every
// group, say so (kept_all in --json, "nothing was lost" in text), and the
// file then hold all 12 checkpoints with a clean verify.
func TestRecoverOfADamagedProofKeepsEveryGroup(t *testing.T) {
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
		out, err := w.Output()
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
		ids := strings.Fields(string(out))
		data, err := os.ReadFile(p + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		spans := engine.RecordSpans(data)
		if len(spans) < 4 || spans[0].Proof || !spans[1].Proof || spans[1].Gen != spans[0].Gen {
			t.Fatalf("the log's records %v: want a group's record, then its proof, then more", spans)
		}
		data[spans[1].End-8] ^= 0x01
		if err := os.WriteFile(p+"-wal", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if v := h31Exec(t, dir, "verify", "f.db"); v.code == 0 {
			t.Fatalf("verify of the damaged log exits 0:\n%s", v)
		}
		r := h149Recover(t, dir, asJSON)
		if asJSON {
			var got struct {
				KeptAll bool   `json:"kept_all"`
				Dropped uint64 `json:"dropped_groups"`
				Kept    int    `json:"kept_groups"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("recover --json: %v\n%s", err, r)
			}
			if !got.KeptAll || got.Dropped != 0 || got.Kept == 0 {
				t.Errorf("recover --json = %+v, want every group kept, none dropped:\n%s", got, r)
			}
		} else if !strings.Contains(r.stdout, "nothing was lost") || !strings.Contains(r.stdout, "dropped none") {
			t.Errorf("recover says:\n%s\nwant it to say nothing was lost", r)
		}
		if v := h31Exec(t, dir, "verify", "f.db"); v.code != 0 {
			t.Errorf("verify after recover:\n%s", v)
		}
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if _, err := s.Load(context.Background(), "t", id); err != nil {
				t.Errorf("checkpoint %d of %d, acknowledged: %v", i, len(ids), err)
			}
		}
		_ = s.Close()
	}
}
