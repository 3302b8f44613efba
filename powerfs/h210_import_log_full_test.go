//go:build linux

package powerfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h210: the CLI fault hunt saw `ckpt import imp.db DUMP` exit 0 with its
// fault, ENOSPC, struck on a write to the new file's log
// (imp.db.import-wal). Not an error lost: of that log's writes, all but
// its records' are ones whose failure the log answers without failing
// anything:
//
//   - the zeros a growth writes ahead of the records (Log.extend): a
//     growth that finds no room falls back to the room the record needs
//     (Log.reserve), written again, and a write the file system serves in
//     parts (FUSE: 4 KiB or 128 KiB requests) that fails after the first
//     returns short, and writeAt writes the rest again;
//   - a proof after fsync'd records (engine.vouch): the records are
//     durable, the groups go on, and bbolt takes them before they are
//     acknowledged.
//
// A failed write of a record fails the import: exit 1, no file. This pins
// that: at each kind of write, the fault strikes that write, and the exit
// code and the file agree: exit 0 with imp.db holding exactly the dump
// (its export is the dump, byte for byte), or non-zero with a message
// naming the full disk and no imp.db; no imp.db.import* left either way.
// CKPT_POWERFS_FAULTS=all fails every write to the new file and its log
// in turn, and checks that agreement at each (h210: 164 writes, 143 exit
// 0, the log's zeros and proofs; 21 exit 1, the file's pages, the log's
// header and records).

// logWrite is a write that the fault counter counts (TargetOther), with
// its number among them (what Fault.N names) and its file's name.
type logWrite struct {
	n    int
	name string
	op   Op
}

// otherWrites lists the writes to files of TargetOther in the order the
// fault counter counts them (every write there succeeded: an unfaulted
// run's record).
func otherWrites(ops []Op) []logWrite {
	names := map[int]string{}
	var ws []logWrite
	for _, o := range ops {
		switch o.Kind {
		case OpCreate, OpLink:
			names[o.File] = filepath.Join(o.Dir, o.Name)
		case OpRename:
			for id, n := range names {
				if n == filepath.Join(o.Dir, o.Name) {
					names[id] = filepath.Join(o.Dir2, o.Name2)
				}
			}
		case OpWrite:
			if targetOf(names[o.File]) == TargetOther {
				ws = append(ws, logWrite{n: len(ws) + 1, name: names[o.File], op: o})
			}
		}
	}
	return ws
}

func allZero(b []byte) bool { return !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) }

// importLogRoles picks, among an unfaulted import's writes to the new
// file's log, one of each kind: the first growth's zeros (its first and
// second request), the first record, and the proof after it.
func importLogRoles(t *testing.T, ws []logWrite) map[string]logWrite {
	t.Helper()
	const wal = "imp.db.import-wal"
	var log []logWrite
	for _, w := range ws {
		if w.name == wal {
			log = append(log, w)
		}
	}
	roles := map[string]logWrite{}
	for i, w := range log {
		switch {
		case w.op.Off == 0:
			continue // the header (CreateLog): its failure fails the Open
		case allZero(w.op.Data) && roles["zeros"].n == 0:
			roles["zeros"] = w
			if i+1 < len(log) && allZero(log[i+1].op.Data) && log[i+1].op.Off == w.op.Off+int64(len(w.op.Data)) {
				roles["zeros-next-request"] = log[i+1]
			}
		case !allZero(w.op.Data) && roles["record"].n == 0:
			roles["record"] = w
			// The proof follows it where it ends, its second copy ending
			// one proof (32 bytes) into a 4 KiB block (Log.AppendProof).
			if i+1 < len(log) {
				p := log[i+1]
				if end := p.op.Off + int64(len(p.op.Data)); p.op.Off == w.op.Off+int64(len(w.op.Data)) && (end-32)%4096 == 0 {
					roles["proof"] = p
				}
			}
		}
	}
	for _, r := range []string{"zeros", "zeros-next-request", "record", "proof"} {
		if roles[r].n == 0 {
			var seen []string
			for _, w := range log {
				seen = append(seen, w.op.String())
			}
			t.Fatalf("no %s write among the log's: %v", r, seen)
		}
	}
	return roles
}

func TestPowerFaultCLIImportLogFull(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	var c cliCmd
	for _, cc := range cliCmds {
		if cc.sc.name == "cli-import" {
			c = cc
		}
	}
	var roles map[string]logWrite
	counts := 0
	t.Run("none", func(t *testing.T) {
		l, _, calls := cliRun(t, bin, c, Fault{})
		ws := otherWrites(l.rec.Ops())
		if n := calls[[2]int{int(CallWrite), int(TargetOther)}]; len(ws) != n {
			t.Fatalf("the record has %d writes to other files, the fault counter %d", len(ws), n)
		}
		roles, counts = importLogRoles(t, ws), len(ws)
		checkImportAgrees(t, l)
	})
	if roles == nil {
		return
	}
	if os.Getenv("CKPT_POWERFS_FAULTS") == "all" {
		// Every write to the new file and its log in turn: agreement
		// alone (which fail is the engine's business).
		for n := range counts {
			f := Fault{Call: CallWrite, Target: TargetOther, N: n + 1, Errno: syscall.ENOSPC}
			t.Run("all-"+f.name(), func(t *testing.T) {
				l, marks, _ := cliRun(t, bin, c, f)
				checkImportAgrees(t, l)
				l.checkMarks(209^uint64(f.N), 1, marks)
			})
		}
	}
	want := map[string]bool{"zeros": true, "zeros-next-request": true, "record": false, "proof": true} // exit 0?
	for _, r := range []string{"zeros", "zeros-next-request", "record", "proof"} {
		w := roles[r]
		f := Fault{Call: CallWrite, Target: TargetOther, N: w.n, Errno: syscall.ENOSPC}
		var sub *testing.T
		t.Run(r+"-"+f.name(), func(t *testing.T) {
			sub = t
			l, marks, _ := cliRun(t, bin, c, f)
			if wantHit := fmt.Sprintf("imp.db.import-wal (no space left on device) write [%d,+%d)", w.op.Off, len(w.op.Data)); !strings.HasPrefix(l.cli.hit, wantHit) {
				t.Fatalf("the fault struck %q, meant %q (%s)", l.cli.hit, wantHit, w.op)
			}
			checkImportAgrees(t, l)
			if ok := l.cli.code == 0; ok != want[r] {
				t.Errorf("exit %d at the %s write (%s); want success %v", l.cli.code, r, w.op, want[r])
			}
			l.checkMarks(209^uint64(w.n), 1, marks)
		})
		if sub != nil && sub.Skipped() {
			t.Errorf("%s: the fault never struck the %s write (%s)", f.name(), r, w.op)
		}
	}
}

// checkImportAgrees: the exit code and the mount agree. Exit 0: imp.db
// holds exactly the dump (exported, it is the dump byte for byte).
// Failed: a message that names the full disk, and no imp.db. Neither
// leaves an imp.db.import* file behind.
func checkImportAgrees(t *testing.T, l *life) {
	t.Helper()
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), "imp.db.import") {
			t.Errorf("exit %d left %s behind", l.cli.code, e.Name())
		}
	}
	_, serr := os.Stat(l.path("imp.db"))
	if l.cli.code != 0 {
		if serr == nil {
			t.Errorf("exit %d (%s), and imp.db is there: %v", l.cli.code, l.cli.stderr, names)
		}
		if !strings.Contains(l.cli.stderr, "no space left on device") || !strings.Contains(l.cli.stderr, "nothing imported") {
			t.Errorf("exit %d with %q: want the full disk named and nothing imported said", l.cli.code, l.cli.stderr)
		}
		return
	}
	if serr != nil {
		t.Fatalf("exit 0, and no imp.db: %v (%v)", serr, names)
	}
	// A copy outside the mount: the store maps its file, which the
	// process serving the mount must not (life).
	dir := t.TempDir()
	for _, n := range []string{"imp.db", "imp.db-wal"} {
		b, err := os.ReadFile(l.path(n))
		if err != nil && n == "imp.db-wal" && os.IsNotExist(err) {
			continue
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, n), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := ckpt.Open(filepath.Join(dir, "imp.db"), l.opts)
	if err != nil {
		t.Fatalf("exit 0, and imp.db does not open: %v", err)
	}
	var got bytes.Buffer
	_, err = s.Export(context.Background(), &got, ckpt.ExportOptions{})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("export imp.db: %v", err)
	}
	dump, err := os.ReadFile(filepath.Join(l.cli.keys, "in.json.dump"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), dump) {
		t.Errorf("exit 0, and imp.db is not the dump: its export has %d bytes, the dump %d (%d lines, %d)",
			got.Len(), len(dump), bytes.Count(got.Bytes(), []byte("\n")), bytes.Count(dump, []byte("\n")))
	}
}
