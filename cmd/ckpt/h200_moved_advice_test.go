package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// movingReader gives r's bytes and runs move once, when it is asked for
// the bytes past at.
type movingReader struct {
	r    *bytes.Reader
	at   int64
	n    int64
	move func()
}

func (m *movingReader) Read(p []byte) (int, error) {
	if m.move != nil && m.n >= m.at {
		m.move()
		m.move = nil
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	return n, err
}

// TestH200MovedFileAdvice: ckpt import into a store whose log or file
// another program removes or renames while the import runs (the dump,
// read from stdin, does it three quarters in). The store stops taking
// writes (internal/engine/held_files.go), and the line said "check the
// disk, then run 'ckpt verify s.db'" after the library's advice to a
// program ("Close the store ... then open it again", "copy them out
// first with Export (ImportFile ...)"): no I/O failed, the command has
// ended (the store is closed), and s.db may no longer be there to
// verify. The line must name what moved, give no disk advice and no
// library calls, and say what to do that holds: for the log, verify the
// file (which has what was acknowledged before); for the file, move it
// back first (and the file moved back is whole).
func TestH200MovedFileAdvice(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	if err := spec14Fill(src, "imp", 200, 6); err != nil {
		t.Fatal(err)
	}
	s, err := ckpt.Open(src, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := s.Export(context.Background(), &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		move   func(p string) error
		back   func(p string) error // what the advice says to do before verify
		want   []string
		verify bool // the line ends with verify's advice
	}{
		{"log removed", func(p string) error { return os.Remove(p + "-wal") }, nil,
			[]string{"write-ahead log", "-wal was removed or renamed", "are in"}, true},
		{"file removed", os.Remove, nil, []string{"store's file", "was removed or renamed", "move it back"}, false},
		{"file renamed", func(p string) error { return os.Rename(p, p+".old") }, func(p string) error { return os.Rename(p+".old", p) },
			[]string{"store's file", "was removed or renamed", "move it back"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "s.db")
			if err := spec14Fill(db, "mine", 2, 2); err != nil {
				t.Fatal(err)
			}
			r := &movingReader{r: bytes.NewReader(dump.Bytes()), at: int64(dump.Len()) * 3 / 4, move: func() {
				if err := c.move(db); err != nil {
					t.Fatal(err)
				}
			}}
			var out, errb bytes.Buffer
			code := run([]string{"import", db}, r, &out, &errb)
			line := errb.String()
			if code != exitError || strings.Count(line, "\n") != 1 {
				t.Fatalf("exit %d, want 1 and one line:\n%s", code, line)
			}
			for _, untrue := range []string{"check the disk", "I/O error", "Close the store", "Export", "ImportFile", "reopen"} {
				if strings.Contains(line, untrue) {
					t.Errorf("the line says %q, not true of a file moved under a command: %s", untrue, line)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("the line lacks %q: %s", w, line)
				}
			}
			if got := strings.HasSuffix(line, "; run 'ckpt verify "+db+"'\n"); got != c.verify {
				t.Errorf("ends with verify's advice: %v, want %v: %s", got, c.verify, line)
			}
			if c.back != nil {
				if err := c.back(db); err != nil {
					t.Fatal(err)
				}
			}
			if c.verify || c.back != nil {
				// The advice holds: the file is whole, and has what was
				// acknowledged before the import, none of the import.
				var vout, verr bytes.Buffer
				if code := run([]string{"verify", db}, strings.NewReader(""), &vout, &verr); code != exitOK {
					t.Errorf("verify after the advice: exit %d\n%s%s", code, vout.String(), verr.String())
				}
				vout.Reset()
				if code := run([]string{"threads", db}, strings.NewReader(""), &vout, &verr); code != exitOK ||
					!strings.Contains(vout.String(), "mine-001") || strings.Contains(vout.String(), "imp-") {
					t.Errorf("threads after the advice: exit %d, want mine-*, no imp-*:\n%s%s", code, vout.String(), verr.String())
				}
			}
		})
	}
}

// TestOverwrittenFileAdvice: a store whose file another program
// overwrote in place (cp other.db s.db: the same inode) stops taking
// writes (internal/engine/overwrite.go); the moved-file advice said "if
// the file was renamed ... move it back ... if it was removed ..." of a
// file that stayed at its path. It must say what holds: the copy at the
// path, and the log with the writes not yet in the file. (The error comes
// from the library, not from a command racing the cp: a cp under a
// running applier may meet it first as damage.)
func TestOverwrittenFileAdvice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, other := filepath.Join(dir, "s.db"), filepath.Join(dir, "other.db")
	if err := spec14Fill(other, "other", 3, 2); err != nil {
		t.Fatal(err)
	}
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(ctx, "mine", map[string]any{"i": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o644); err != nil { // cp: the same inode
		t.Fatal(err)
	}
	_, err = s.Save(ctx, "mine", map[string]any{"i": 2}, nil)
	if err == nil {
		t.Fatal("a Save after the file was overwritten was acknowledged")
	}
	line := failedAdvice("ckpt: import: "+err.Error(), db, err)
	for _, w := range []string{"store's file", "was overwritten in place", "nothing failed on the disk", db + " holds the bytes copied over it",
		"-wal keeps the writes", "'ckpt recover " + db + "'"} {
		if !strings.Contains(line, w) {
			t.Errorf("the line lacks %q: %s", w, line)
		}
	}
	for _, untrue := range []string{"move it back", "removed", "check the disk", "Close the store"} {
		if strings.Contains(line, untrue) {
			t.Errorf("the line says %q, not true of a file overwritten in place: %s", untrue, line)
		}
	}
}
