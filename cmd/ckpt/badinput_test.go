package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// readCommands returns every read command on file, with ids of the demo.
func readCommands(file string, ids map[int]string) [][]string {
	a, b := ids[2], ids[3]
	if a == "" {
		a, b = ulid.Make().String(), ulid.Make().String()
	}
	return [][]string{
		{"threads", file}, {"log", file, "demo"}, {"show", file, "demo"}, {"diff", file, "demo", a, b},
		{"verify", file}, {"stats", file}, {"export", file},
		{"backup", file, filepath.Join(filepath.Dir(file), "backup-copy.db")},
	}
}

// TestBadFiles runs every command that opens a file on files that are
// missing, not stores, or damaged: one line on stderr, exit status 1.
func TestBadFiles(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	whole, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.db"), "missing.db: no such file"},
		{"directory", dir, "is a directory, not a store file"},
		{"empty", write("empty.db", nil), "is empty, not a ckpt store"},
		{"text", write("notes.txt", []byte("hello, not a store\n")), "is not a ckpt store, or it is damaged"},
		{"garbage", write("garbage.db", fill(64<<10, 0x5a)), "is not a ckpt store, or it is damaged"},
		{"other bbolt file", otherBolt(t, dir), "not a ckpt store (no format marker)"},
		{"truncated", write("truncated.db", whole[:len(whole)/3]), "(truncated?)"},
		{"cut to one page", write("onepage.db", whole[:4096]), "onepage.db is not a ckpt store (4096 bytes: too small to be one)"},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			cmds := readCommands(f.path, nil)
			if f.name != "missing" && f.name != "empty" { // demo and import start a new store there
				cmds = append(cmds, []string{"demo", "--db", f.path}, []string{"import", f.path})
			}
			for _, args := range cmds {
				failsWith(t, runIn(t, dir, `{"ckpt_export":1}`+"\n", args...), 1, f.want)
			}
		})
	}
}

func fill(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// otherBolt makes a valid bbolt file that is not a ckpt store.
func otherBolt(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "other.db")
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("ann"), []byte("admin"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadArguments: unknown threads and ids, malformed ids and flags,
// wrong argument counts.
func TestBadArguments(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	absent := ulid.Make().String()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"log", db, "nope"}, 1, `has no thread "nope"`},
		{[]string{"show", db, "nope"}, 1, `has no thread "nope"`},
		{[]string{"show", db, "demo", absent}, 1, `thread "demo" has no checkpoint ` + absent},
		{[]string{"show", db, "demo", "not-an-id"}, 2, `"not-an-id" is neither a checkpoint id nor the start of one`},
		{[]string{"show", db, "demo", "7ZZZ"}, 1, `thread "demo" has no checkpoint whose id starts with "7ZZZ"`},
		{[]string{"show", db, "demo", "ZZZZ"}, 2, `"ZZZZ" is neither a checkpoint id nor the start of one`}, // ids start 0-7
		{[]string{"diff", db, "demo", ids[1], absent}, 1, `thread "demo" has no checkpoint ` + absent},
		{[]string{"diff", db, "nope", ids[1], ids[2]}, 1, `has no thread "nope"`},
		{[]string{"export", db, "demo", "nope"}, 1, `has no thread "nope"`},
		{[]string{"log", db, "demo", "--limit", "x"}, 2, `invalid argument "x" for "--limit"`},
		{[]string{"log", db, "demo", "--limit", "-1"}, 2, "--limit -1: must be 0 (no limit) or more"},
		{[]string{"log", db, "demo", "--filter", "novalue"}, 2, `--filter "novalue": want key=value`},
		{[]string{"log", db, "demo", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"diff", db, "demo", ids[1], ids[2], "--color", "purple"}, 2, `--color "purple": want auto, always or never`},
		{[]string{"threads", db, "--lock-timeout", "soon"}, 2, `invalid argument "soon" for "--lock-timeout"`},
		{[]string{"demo", "--crash-after", "99"}, 2, "--crash-after must be between 1 and 8"},
		{[]string{"demo", "--crash-after", "x"}, 2, `invalid argument "x" for "--crash-after"`},
		{[]string{"demo", "extra"}, 2, "usage: ckpt demo [flags]"},
		{[]string{"log", db}, 2, "usage: ckpt log FILE THREAD [flags]"},
		{[]string{"diff", db, "demo", ids[1]}, 2, "usage: ckpt diff FILE THREAD ID_A ID_B [flags]"},
		{[]string{"threads"}, 2, "usage: ckpt threads FILE [flags]"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"import", filepath.Join(dir, "new.db"), filepath.Join(dir, "no-such-dump")}, 1, "no-such-dump: no such file"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:1], " ")+fmt.Sprint(len(c.args)), func(t *testing.T) {
			failsWith(t, runIn(t, dir, "", c.args...), c.code, c.want)
		})
	}
	// Malformed dumps on stdin.
	for _, c := range []struct{ stdin, want string }{
		{"", "the input is empty"},
		{"not json\n", "line 1: not a ckpt dump"},
		{`{"ckpt_export":1}` + "\n" + `{"kind":"checkpoint","thread":"t","id":"x"}` + "\n", `line 2: invalid config: checkpoint id "x" is not a ULID`},
	} {
		failsWith(t, runIn(t, dir, c.stdin, "import", filepath.Join(dir, "new.db")), 1, c.want)
	}
}

// TestHeldFile: while a running program holds the file for writing, every
// command says so within the lock timeout instead of hanging; while it is
// only held for reading, read commands work (they open it read-only) and
// writing commands say it is held.
func TestHeldFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	// demo --fresh: a demo on the fixture's finished thread only reads
	// (it says the thread is finished from its read-only open).
	writers := [][]string{{"demo", "--db", db, "--fresh"}, {"import", db}}
	t.Run("held for writing", func(t *testing.T) {
		startHolder(t, db, false)
		for _, args := range append(readCommands(db, ids), writers...) {
			// "gave up after 200ms" says the lock timeout ended the wait;
			// runWithin fails a command that hangs past it.
			r := runWithin(t, time.Minute, dir, `{"ckpt_export":1}`+"\n", append(args, "--lock-timeout", "200ms")...)
			failsWith(t, r, 1, db+" is held by another process (a program has the store open); stop that program or wait for it to close the store, then retry (gave up after 200ms")
		}
	})
	t.Run("held for reading", func(t *testing.T) {
		startHolder(t, db, true)
		for _, args := range readCommands(db, ids) {
			ok(t, dir, append(args, "--lock-timeout", "200ms")...)
		}
		for _, args := range writers {
			// A dump's header on stdin: import checks it before it
			// opens the file for writing (an empty input is refused
			// first, the file left alone).
			failsWith(t, runIn(t, dir, `{"ckpt_export":1}`+"\n", append(args, "--lock-timeout", "200ms")...), 1, "is held by another process")
		}
	})
}

// TestVerifyCorruptedCopy damages a copy of a demo store behind the store's
// back: verify must exit 1 and name each problem precisely.
func TestVerifyCorruptedCopy(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	bad := filepath.Join(dir, "bad.db")
	copyFile(t, db, bad)
	// The layout is the store's (bucket_layout.go): threads/<id>/{md,bl},
	// index; keys start with len16(ns)|ns, so "\x00\x00" + id for the root
	// namespace.
	key := func(step int) []byte {
		id := ulid.MustParseStrict(ids[step])
		return append([]byte{0, 0}, id[:]...)
	}
	var blobKey []byte
	b, err := bolt.Open(bad, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		thread := tx.Bucket([]byte("threads")).Bucket([]byte("demo"))
		if err := thread.Bucket([]byte("md")).Delete(key(4)); err != nil {
			return err
		}
		// Find the value of channel "plan" and make it undecodable.
		bl := thread.Bucket([]byte("bl"))
		bk, _ := bl.Cursor().Seek([]byte("\x00\x00\x00\x04plan"))
		blobKey = append([]byte(nil), bk...)
		if err := bl.Put(blobKey, []byte{1, 0, 0xc1}); err != nil {
			return err
		}
		id := ulid.MustParseStrict(ids[6])
		return tx.Bucket([]byte("index")).Delete(append(append(id[:], 0, 4), "demo"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "verify", bad)
	// The value written above is an old record version, without the
	// checksum every record of a file of format 3 or later has: a fourth
	// problem.
	failsWith(t, r, 1, "verify: "+bad+" has 4 problems")
	for _, want := range []string{
		fmt.Sprintf(`  metadata thread="demo" checkpoint=%s: checkpoint has no metadata record`, ids[4]),
		`  value thread="demo": channel "plan" version "0002" does not decode: corrupt data: decode value: msgpack: unknown code c1 decoding interface{}`,
		fmt.Sprintf(`  value thread="demo": channel "plan" version "0002": record has no checksum (record version 1 in a format %d file)`, ckpt.FormatVersion),
		fmt.Sprintf(`  index thread="demo" checkpoint=%s: checkpoint missing from the global index`, ids[6]),
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Fatalf("verify report lacks %q:\n%s", want, r)
		}
	}
	rj := runIn(t, dir, "", "verify", bad, "--json")
	rep := decodeJSON[map[string]any](t, rj)
	if rj.code != 1 || rep["ok"] != false || len(rep["problems"].([]any)) != 4 {
		t.Fatalf("verify --json of the damaged copy:\n%s", rj)
	}
	// The reading commands that meet the damage fail with one line too.
	failsWith(t, runIn(t, dir, "", "show", bad, "demo", ids[4]), 1, "has no metadata")
}

// TestVerifyDamagedPages scribbles over the element table of a leaf page
// bbolt uses. With the elements' bucket bit clear (0xfe), verify reports
// bbolt's own findings and exits 1, without a crash. With it set (0xff:
// every element a bucket whose value reaches gigabytes past the page),
// the read-only Open refuses the file (bbolt would copy such a value to
// the heap, or fault a race build's pointer checks): verify exits 1 with
// one line naming the page, without a crash.
func TestVerifyDamagedPages(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, b := range []byte{0xfe, 0xff} {
		bad := filepath.Join(dir, fmt.Sprintf("pages-%x.db", b))
		leaf := wreckLeafElements(t, db, bad, b)
		r := runIn(t, dir, "", "verify", bad)
		if b == 0xff {
			failsWith(t, r, 1, fmt.Sprintf("leaf page %d: bucket element 0's key and value reach past the page", leaf))
			continue
		}
		if r.code != 1 || strings.Contains(r.stderr, "goroutine ") {
			t.Fatalf("verify of damaged pages:\n%s", r)
		}
		// Which leaf is wrecked depends on the demo's page layout: the
		// page of the store's own meta bucket (its format and where its
		// log stands) makes the file unreadable, and Open says so in one
		// line; any other, and verify reports what it finds.
		if strings.Contains(r.stderr, "is not a ckpt store, or it is damaged") {
			failsWith(t, r, 1, "bbolt failed on a damaged page")
			t.Logf("verify of damaged pages (the store's meta page): %s", r.stderr)
			continue
		}
		if !strings.Contains(r.stdout, "  file: ") {
			t.Fatalf("verify of damaged pages:\n%s", r)
		}
		failsWith(t, r, 1, "problem")
		t.Logf("verify of damaged pages:\n%s", r.stdout)
	}
}

// wreckLeafElements copies the store db to bad and fills the first 64
// bytes of the element table of a leaf page of more than 2 elements with
// b, and returns the page.
func wreckLeafElements(t *testing.T, db, bad string, b byte) int64 {
	t.Helper()
	copyFile(t, db, bad)
	bdb, err := bolt.Open(bad, 0o600, nil) // writable: Tx.Page needs the freelist
	if err != nil {
		t.Fatal(err)
	}
	var leaf int64 = -1
	pageSize := int64(bdb.Info().PageSize)
	_ = bdb.View(func(tx *bolt.Tx) error {
		for id := 2; leaf < 0; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type == "leaf" && p.Count > 2 {
				leaf = int64(id)
			}
		}
		return nil
	})
	_ = bdb.Close()
	if leaf < 0 {
		t.Fatal("no leaf page found")
	}
	f, err := os.OpenFile(bad, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the page header, wreck the element table after it.
	if _, err := f.WriteAt(fill(64, b), leaf*pageSize+16); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return leaf
}
