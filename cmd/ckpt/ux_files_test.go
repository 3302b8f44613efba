package main

// Files a newcomer gives by mistake or finds damaged: each test is a rough
// edge of what the command said about them, kept from coming back.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestForeignFilesNamed: a file of another known kind given where a store
// belongs is named for what it is, with what to do instead: an SQLite
// database (LangGraph's SqliteSaver keeps its checkpoints in one), a dump
// written by 'ckpt export', a store's write-ahead log.
func TestForeignFilesNamed(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	sqlite := make([]byte, 8192)
	copy(sqlite, "SQLite format 3\x00\x10\x00")
	dump := []byte(ok(t, dir, "export", db).stdout)
	wal := append([]byte("ckpt-wal"), make([]byte, 100)...)
	for _, f := range []struct {
		name string
		data []byte
		want string
	}{
		{"checkpoints.sqlite", sqlite, "checkpoints.sqlite is an SQLite database, not a ckpt store"},
		{"dump.jsonl", dump, "dump.jsonl is a dump written by 'ckpt export', not a store: 'ckpt import NEW.db dump.jsonl' reads it into a new store"},
		{"agent.db-wal", wal, "agent.db-wal is a store's write-ahead log, not the store: give the store file beside it (agent.db)"},
	} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range append(readCommands(f.name, nil), []string{"gc", f.name, "--keep-last", "1"}, []string{"compact", f.name},
			[]string{"demo", "--db", f.name}, []string{"import", f.name, "-"}) {
			failsWith(t, runIn(t, dir, "", args...), 1, f.want)
		}
	}
}

// TestNotAStoreUntouched: every command given a file that is not a store
// (empty, text, garbage, SQLite, another program's bbolt file) fails with
// exit 1 and leaves the file as it was, bytes and modification time, and
// creates nothing beside it (no -wal, no temporary file).
func TestNotAStoreUntouched(t *testing.T) {
	t.Parallel()
	sqlite := make([]byte, 8192)
	copy(sqlite, "SQLite format 3\x00\x10\x00")
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"empty.db", nil},
		{"notes.txt", []byte("hello, not a store\n")},
		{"garbage.db", fill(64<<10, 0x5a)},
		{"app.sqlite", sqlite},
		{"other.db", nil}, // another program's bbolt file, made below
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, f.name)
			if f.name == "other.db" {
				p = otherBolt(t, dir)
			} else if err := os.WriteFile(p, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			cmds := append(readCommands(p, nil),
				[]string{"gc", p, "--keep-last", "1"}, []string{"gc", p, "--keep-last", "1", "--dry-run"},
				[]string{"compact", p}, []string{"rm", p, "demo", "--yes"}, []string{"cp", p, "demo", "copy"},
				[]string{"recover", p})
			if f.name != "empty.db" { // demo and import start a new store in an empty file
				cmds = append(cmds, []string{"demo", "--db", p}, []string{"import", p, "-"})
			}
			for _, args := range cmds {
				r := runIn(t, dir, `{"ckpt_export":1}`+"\n", args...)
				if r.code != 1 {
					t.Fatalf("want exit 1:\n%s", r)
				}
				after, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(before, after) || !st.ModTime().Equal(old) {
					t.Fatalf("ckpt %v changed %s (mtime %v, was %v)", args, f.name, st.ModTime(), old)
				}
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 1 {
					var names []string
					for _, e := range entries {
						names = append(names, e.Name())
					}
					t.Fatalf("ckpt %v left files beside %s: %v", args, f.name, names)
				}
			}
		})
	}
}

// TestNotAStoreSaysItOnce: the error for a file bbolt cannot read names
// the file once and says "not a ckpt store" once (it said both twice:
// "x is not a ckpt store, or it is damaged (x: not a ckpt file (bbolt:
// invalid database))").
func TestNotAStoreSaysItOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello, not a store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "threads", "notes.txt")
	failsWith(t, r, 1, "ckpt: notes.txt is not a ckpt store, or it is damaged (bbolt: invalid database)\n")
}

// TestPermissionErrorsSayWhy: "b.db-wal: permission denied" left one to
// guess why a command wanted a file that is not there: a store opened for
// writing keeps its log beside the file, so the directory must be
// writable; and a write command on a read-only file says it writes.
// (In-process: the tests may run as root, whom no permission stops.)
func TestPermissionErrorsSayWhy(t *testing.T) {
	t.Parallel()
	a := newApp(nil, nil, nil)
	wal := a.openError("dir/b.db", &fs.PathError{Op: "open", Path: "dir/b.db-wal", Err: syscall.EACCES})
	if want := "dir/b.db-wal: permission denied (a store opened for writing keeps its log beside the file: dir needs write permission)"; wal.Error() != want {
		t.Fatalf("got  %q\nwant %q", wal, want)
	}
	file := a.openError("ro.db", &fs.PathError{Op: "open", Path: "ro.db", Err: syscall.EACCES})
	if want := "ro.db: permission denied"; file.Error() != want {
		t.Fatalf("got  %q\nwant %q", file, want)
	}
}

// TestCompactOfACompactFile: compacting a file with nothing to give back
// (a fresh backup is already tight) can leave it a few pages larger, and
// compact said "(-12288 B given back)". It says the file grew and why.
func TestCompactOfACompactFile(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	ok(t, dir, "backup", "demo.db", "tight.db")
	before := fileSize(filepath.Join(dir, "tight.db"))
	out := ok(t, dir, "compact", "tight.db").stdout
	after := fileSize(filepath.Join(dir, "tight.db"))
	if after <= before {
		t.Skipf("compaction did not grow the file (%d -> %d bytes): nothing to check", before, after)
	}
	want := fmt.Sprintf("compacted tight.db: %s -> %s (grew by %s: there was no free space to give back)\n", humanBytes(before), humanBytes(after), humanBytes(after-before))
	if out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
}

// TestBackupDestinationErrors: a destination in a directory that does not
// exist named the temporary file nobody gave ("open
// x.db.ckpt-backup-4638136.tmp: no such file or directory"); a
// destination that is the store or a directory said "invalid config" and
// exited 1 although it is a mistake in the arguments.
func TestBackupDestinationErrors(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	r := runIn(t, dir, "", "backup", "demo.db", filepath.Join("no-such-dir", "x.db"))
	failsWith(t, r, 1, "backup to "+filepath.Join("no-such-dir", "x.db")+": no directory no-such-dir")
	if strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("names the temporary file:\n%s", r)
	}
	for _, c := range []struct{ dst, want string }{
		{"demo.db", "backup to demo.db: that is the store's own file or log (see 'ckpt backup --help')"},
		{".", "backup to .: that is a directory (see 'ckpt backup --help')"},
	} {
		r := runIn(t, dir, "", "backup", "demo.db", c.dst)
		failsWith(t, r, 2, c.want)
		if strings.Contains(r.stderr, "invalid config") {
			t.Fatalf("library jargon:\n%s", r)
		}
	}
}

// TestDamagedLogSaysRecoverFile: a store whose -wal is damaged was
// reported as "demo.db is not a ckpt store, or it is damaged (...; run
// `ckpt recover` (ckpt.RecoverLog) ...)": the store is not the problem,
// and the API name means nothing at a shell. It says the log is damaged
// and gives the command to type.
func TestDamagedLogSaysRecoverFile(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	log := append([]byte("ckpt-wal\x00\x00\x00\x01"), bytes.Repeat([]byte{0xab}, 12+64)...)
	if err := os.WriteFile(filepath.Join(dir, "demo.db-wal"), log, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "threads", "demo.db")
	failsWith(t, r, 1, "ckpt: demo.db has a damaged write-ahead log (demo.db-wal: ")
	failsWith(t, r, 1, "run 'ckpt recover demo.db' to ")
	if strings.Contains(r.stderr, "not a ckpt store") || strings.Contains(r.stderr, "RecoverLog") {
		t.Fatalf("misleading words:\n%s", r)
	}
}

// TestVerifyProblemsReadable: verify's report lines carried the library's
// "ckpt: " prefix in the middle ("does not decode: ckpt: corrupt data:
// ..."); the command's own lines name the command once, at the start of
// its error line, and nowhere else.
func TestVerifyProblemsReadable(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	damagePlan(t, db)
	r := runIn(t, dir, "", "verify", "demo.db")
	failsWith(t, r, 1, "verify: demo.db has")
	if !strings.Contains(r.stdout, "checksum mismatch") {
		t.Fatalf("no problem reported:\n%s", r)
	}
	if strings.Contains(r.stdout, "ckpt: ") {
		t.Fatalf("the library's prefix inside the report:\n%s", r)
	}
}

// damagePlan flips a bit in the demo's plan, a list value every
// checkpoint from step 2 on reads.
func damagePlan(t *testing.T, db string) {
	t.Helper()
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// Every copy: a free page may hold an older one.
	if bytes.Count(data, []byte("look up SQLite")) == 0 {
		t.Fatal("the demo's plan is not in the file as plain bytes")
	}
	data = bytes.ReplaceAll(data, []byte("look up SQLite"), []byte("looK up SQLite"))
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedRecordPointsToVerify: a read that meets a damaged record
// fails naming it ("thread ... channel "plan" ...: corrupt data: ...
// checksum mismatch") but said nothing of what to do; it points to
// verify, which lists every damaged record.
func TestDamagedRecordPointsToVerify(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	damagePlan(t, db)
	for _, args := range [][]string{{"show", "demo.db", "demo"}, {"log", "demo.db", "demo"}, {"export", "demo.db"}} {
		r := runIn(t, dir, "", args...)
		failsWith(t, r, 1, "checksum mismatch")
		failsWith(t, r, 1, "; the file is damaged: 'ckpt verify demo.db' lists every damaged record")
	}
}
