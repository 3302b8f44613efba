//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// ckpt rekey, ckpt import into a new path and ckpt export -o of an
// encrypted store, SIGKILLed after a seeded delay (from its start to past
// its end, so the kill lands anywhere in it, or not at all): nothing is
// lost (every value reads exactly with the keys given), the new file or
// dump is whole or absent, and the same command run again exits 0 with
// its whole change (rekey: the new key alone opens everything).
func TestH148SealedCommandsKilled(t *testing.T) {
	// Parallel: as a serial test it ran alone (18 s), every parallel test
	// of the package waiting; its kills land within the time it measures
	// the command takes, at the same load.
	t.Parallel()
	ctx := context.Background()
	fix, k1, k2 := h148SealedFixture(t, 300, 5, 200)
	want, err := h148Read(filepath.Join(fix, "s.db"), k1)
	if err != nil || len(want) != 300 {
		t.Fatalf("fixture: %d values, %v", len(want), err)
	}
	cases := []struct {
		name string
		args []string
		dst  string
	}{
		{"rekey", []string{"rekey", "s.db", "--key-file", "k2", "--key-file", "k1"}, ""},
		{"import", []string{"import", "--key-file", "k1", "new.db", "d.jsonl"}, "new.db"},
		{"export", []string{"export", "--key-file", "k1", "s.db", "-o", "out.jsonl"}, "out.jsonl"},
	}
	rng := rand.New(rand.NewPCG(148, 1))
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	outcomes := map[string]int{}
	for _, c := range cases {
		// How long the command takes unhurt: the kills land within it.
		dir := t.TempDir()
		for _, n := range []string{"s.db", "d.jsonl", "k1", "k2"} {
			if err := copyFileErr(filepath.Join(fix, n), filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		ok(t, dir, c.args...)
		took := time.Since(start)
		for round := range rounds {
			dir := t.TempDir()
			for _, n := range []string{"s.db", "d.jsonl", "k1", "k2"} {
				if err := copyFileErr(filepath.Join(fix, n), filepath.Join(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
			delay := time.Duration(rng.Int64N(int64(took) * 5 / 4))
			what := fmt.Sprintf("%s killed after %v (round %d)", c.name, delay, round)
			cmd := exec.Command(binPath, c.args...)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			_ = cmd.Process.Kill()
			werr := cmd.Wait()
			killed := werr != nil && strings.Contains(werr.Error(), "killed")
			outcomes[fmt.Sprintf("%s killed %t", c.name, killed)]++
			if werr != nil && !killed {
				t.Fatalf("%s: %v: %s", what, werr, stderr.String())
			}
			keys := []ckpt.Key{k2, k1}
			if !killed && c.name == "rekey" {
				keys = keys[:1]
			}
			if got, err := h148Read(filepath.Join(dir, "s.db"), keys...); err != nil || !maps.Equal(got, want) {
				t.Fatalf("%s: s.db reads %d values of %d: %v", what, len(got), len(want), err)
			}
			if c.dst == "new.db" {
				if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
					if got, err := h148Read(filepath.Join(dir, "new.db"), k1); err != nil || !maps.Equal(got, want) {
						t.Fatalf("%s: new.db is there, and reads %d values of %d: %v", what, len(got), len(want), err)
					}
					outcomes[c.name+": new.db there"]++
					continue // a second import into it would find the threads there
				}
			}
			if c.dst == "out.jsonl" {
				if b, err := os.ReadFile(filepath.Join(dir, "out.jsonl")); err == nil {
					p := filepath.Join(dir, "check.db")
					if _, err := ckpt.ImportFile(ctx, p, bytes.NewReader(b), ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k1}}}, ckpt.ImportOptions{}); err != nil {
						t.Fatalf("%s: out.jsonl is there, and does not import: %v", what, err)
					}
					if got, err := h148Read(p, k1); err != nil || !maps.Equal(got, want) {
						t.Fatalf("%s: out.jsonl's import reads %d values: %v", what, len(got), err)
					}
					_ = os.Remove(p)
				}
			}
			// Again, unhurt.
			ok(t, dir, c.args...)
			if c.name == "rekey" {
				keys = keys[:1]
			}
			if got, err := h148Read(filepath.Join(dir, "s.db"), keys...); err != nil || !maps.Equal(got, want) {
				t.Fatalf("%s, then run again: s.db reads %d values of %d: %v", what, len(got), len(want), err)
			}
			if c.dst == "new.db" {
				if got, err := h148Read(filepath.Join(dir, "new.db"), k1); err != nil || !maps.Equal(got, want) {
					t.Fatalf("%s, then run again: new.db reads %d values of %d: %v", what, len(got), len(want), err)
				}
			}
			if names := dirNames(t, dir); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".import") || strings.Contains(n, "ckpt-export") }) {
				t.Fatalf("%s, then run again: left %v", what, names)
			}
		}
	}
	t.Logf("%v", outcomes)
}
