//go:build linux

package ckpt_test

// Verify's own reads of the store's file (the page check before its walk,
// and the check of the meta pages) under an I/O error, injected with
// strace once the store is open: every open of the file, or every read
// of it with pread, fails with EIO. Verify must not call the file clean:
// it could not read what it checks.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestH172VerifyUnderEIOIsNotClean(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes under strace")
	}
	strace := h172Strace(t)
	if !h172CanAttach(t, strace) {
		t.Skip("strace -p cannot attach here (ptrace_scope?)")
	}
	for _, sys := range []string{"openat", "pread64"} {
		t.Run(sys, func(t *testing.T) {
			dir := t.TempDir()
			rep := h172RepFile(t, dir)
			defer rep.Close()
			path := filepath.Join(dir, "s.db")
			f := &h172Fault{mode: "verify", sys: sys, kind: "EIO", when: 1, on: true, attach: true}
			args := []string{"-f", "-qq", "-y", "-o", filepath.Join(dir, "trace"), "-P", path,
				"-e", "trace=" + sys, "-e", "inject=" + sys + ":error=EIO:when=1+"}
			var stderr bytes.Buffer
			if _, err := h172Attach(t, strace, args, f, path, rep, &stderr); err != nil {
				t.Fatalf("child: %v\n%s", err, stderr.String())
			}
			var v []h172Line
			for _, l := range h172Parse(t, rep) {
				if l.kind == "V" {
					v = append(v, l)
				}
			}
			if len(v) != 1 {
				t.Fatalf("no Verify in the report; stderr:\n%s", stderr.String())
			}
			t.Logf("Verify with every %s of the file failing: %s", sys, v[0].rest)
			if strings.HasPrefix(v[0].rest, "ok") {
				b, _ := os.ReadFile(filepath.Join(dir, "trace"))
				t.Errorf("Verify called the file clean while every %s of it failed with EIO; the calls:\n%s", sys, b)
			}
		})
	}
}
