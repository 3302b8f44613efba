//go:build linux

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// rm's question on a terminal names the threads as the tables do: a
// thread id holding an escape sequence is shown quoted, not sent to the
// terminal it asks on (part of TestH165UnprintableNamesAreQuoted's
// defect; the question needs a terminal, hence a test of its own).
func TestH165RmQuestionQuotesUnprintableIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "names.db")
	const esc = "ctl\x1b[31mred\n"
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), esc, map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	master, tty := openPTY(t)
	cmd := exec.Command(binPath, "rm", db, esc)
	cmd.Dir = dir
	cmd.Stdin = tty
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(errb.String(), "[y/N]"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) { // only a failure detector
			_ = cmd.Process.Kill()
			t.Fatalf("no question asked: %q", errb.String())
		}
	}
	if _, err := master.WriteString("n\n"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rm answered no: %v\n%q", err, errb.String())
	}
	q := errb.String()
	if strings.Contains(q, "\x1b") || !strings.Contains(q, `("ctl\x1b[31mred\n")`) {
		t.Fatalf("want the thread id quoted in the question: %q", q)
	}
}
