//go:build unix

package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportOfADamagedRecordSaysNothingWasWritten: export stops at a
// damaged record. The dump is buffered (64 KiB), so on a small store it
// stops before a byte reaches stdout, and the line said "the dump on
// stdout is incomplete (no end line: import refuses it)" over an empty
// stdout. It says what is there: nothing, when nothing was written. The
// intact thread, named alone, exports.
func TestExportOfADamagedRecordSaysNothingWasWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Small(t, dir)
	// One record of thread a (its key names the thread's channel and
	// version; the sum covers the thread, so b's is told apart by it).
	key := append([]byte{0, 0, 0, 4}, "note0002"...)
	done := false
	h31EditElems(t, filepath.Join(dir, "f.db"), func(k, v []byte) bool {
		if done || !bytes.Equal(k, key) || len(v) == 0 {
			return false
		}
		v[len(v)-1] ^= 1
		done = true
		return true
	})
	r := h31Exec(t, dir, "export", "f.db")
	h31FailsOnDamage(t, r)
	if r.stdout != "" {
		t.Fatalf("export of a small damaged store wrote to stdout:\n%s", r)
	}
	if strings.Contains(r.stderr, "incomplete") || !strings.Contains(r.stderr, "nothing written to stdout") {
		t.Fatalf("export wrote nothing, and the line does not say so:\n%s", r)
	}
	var damaged, intact string
	for _, th := range []string{"a", "b"} {
		if r := h31Exec(t, dir, "export", "f.db", th); r.code == 0 {
			intact = th
		} else {
			damaged = th
		}
	}
	if damaged == "" || intact == "" {
		t.Fatalf("want one damaged thread and one intact one (damaged %q, intact %q)", damaged, intact)
	}
}
