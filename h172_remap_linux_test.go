//go:build linux

package ckpt_test

// A failing mmap of bbolt's file after a Compact. strace fails every mmap
// of the store's file once the store has compacted it (EIO), and the
// store then writes until its file has grown well past its size at the
// Compact. Open maps a file large from the start (at least 1 GiB) so that
// a store rarely remaps: a remap waits for every open read, and one that
// fails leaves bbolt with no map, every read failing with bbolt's
// "database isn't correctly mapped" until the store is reopened (bbolt
// unmaps before it maps again). The compacted file was mapped as bbolt
// maps a file, small and doubling, so each doubling after a Compact
// remapped: with the mmap failing, the write that needed it failed the
// store, and then Latest and Export (the way to get the data out of a
// failed store, docs/durability.md) failed too. Writes and reads must go
// on: the compacted file is mapped as Open maps it.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestH172AFailingMmapAfterACompactStopsNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes under strace")
	}
	strace := h172Strace(t)
	if !h172CanAttach(t, strace) {
		t.Skip("strace -p cannot attach here (ptrace_scope?)")
	}
	dir := t.TempDir()
	rep := h172RepFile(t, dir)
	defer rep.Close()
	path := filepath.Join(dir, "s.db")
	f := &h172Fault{mode: "remap", sys: "mmap", kind: "EIO", when: 1, on: true, attach: true}
	trace := filepath.Join(dir, "trace")
	args := []string{"-f", "-qq", "-y", "-o", trace, "-P", path, "-e", "trace=mmap", "-e", "inject=mmap:error=EIO:when=1+"}
	var stderr bytes.Buffer
	if _, err := h172Attach(t, strace, args, f, path, rep, &stderr); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	got := map[string]string{}
	for _, l := range h172Parse(t, rep) {
		switch l.kind {
		case "E":
			got["E"] = l.rest
		case "L", "X":
			got[l.kind] = l.rest
		}
	}
	tr, _ := os.ReadFile(trace)
	if got["E"] != "" || bytes.Contains(tr, []byte("INJECTED")) {
		t.Errorf("a write after the Compact failed: %q (it remapped the file); the trace:\n%s", got["E"], tr)
		if !strings.Contains(got["E"], "store failed") {
			t.Errorf("and its error does not say the store failed")
		}
	}
	if got["L"] != "ok" {
		t.Errorf("Latest: %s", got["L"])
	}
	if got["X"] != "ok" {
		t.Errorf("Export: %s", got["X"])
	}
	// And a reopen has everything (the oracle of the hunt, in short).
	if res := h172Check(t, "after the failed remap", path, ckpt.Options{}, nil, false, f); t.Failed() {
		t.Log(res)
	}
}
