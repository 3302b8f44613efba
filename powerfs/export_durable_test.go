//go:build linux

package powerfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

// TestPowerFaultCLIExportDurable: ckpt export -o exits 0 only once its
// dump is durable under its name. It renames its fsync'd temporary file
// into place; a power cut after the command exited 0 must find the dump
// at that name, whole, whatever the directory's unsynced entries did
// (the images lose, keep or tear every op no fsync covered).
func TestPowerFaultCLIExportDurable(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	var c cliCmd
	for _, cc := range cliCmds {
		if cc.sc.name == "cli-compact" { // its setup: a closed store, s.db
			c = cc
		}
	}
	c.args = func(string) []string { return []string{"export", "s.db", "-o", "out.dump"} }
	l, _, _ := cliRun(t, bin, c, Fault{})
	if l.cli.code != 0 {
		t.Fatalf("ckpt export exit %d: %s", l.cli.code, l.cli.stderr)
	}
	at := -1
	for m, name := range l.Names {
		if name == "ckpt export" {
			at = m
		}
	}
	if at < 0 {
		t.Fatalf("no mark after the command: %v", l.Names)
	}
	losses := []Loss{{Keep: 0, Tear: 0}, {Keep: 0.5, Tear: 0.5}, {Keep: 0.2, Tear: 1}}
	for k := range 12 {
		im, err := l.rec.Image(at, rand.New(rand.NewPCG(211, uint64(k))), losses[k%len(losses)])
		if err != nil {
			t.Fatal(err)
		}
		b, ok := im.Files["out.dump"]
		if !ok {
			t.Errorf("image %d (%+v): exit 0, and a power cut after it leaves no out.dump", k, losses[k%len(losses)])
			continue
		}
		if lines := bytes.Split(bytes.TrimSpace(b), []byte("\n")); !bytes.Contains(lines[len(lines)-1], []byte(`"end"`)) {
			t.Errorf("image %d: out.dump has no end line: %q", k, lines[len(lines)-1])
		}
	}
}
