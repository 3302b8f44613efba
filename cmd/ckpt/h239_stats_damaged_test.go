//go:build unix

package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// H239: stats of a file with one thread damaged (h230Damaged: a flipped
// byte in thread b's newest checkpoint record) prints the figures of the
// others, names b, and exits 1 as threads does; verify of a file whose
// list of threads is damaged says its check of the threads stopped, so
// that no thread after the damage passes for sound. Before, stats failed
// with the first damaged record and printed no figure at all.

func TestH239StatsNamesTheDamagedThreadAndSizesTheOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h230Damaged(t, dir)
	r := runIn(t, dir, "", "stats", "f.db")
	failsWith(t, r, 1, `1 thread could not be read ("b", left out of the figures`)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^threads\s+3\s+1 damaged, left out of every figure below: "b"$`),
		regexp.MustCompile(`(?m)^checkpoints\s+10$`), // a's and c's 5 each
		regexp.MustCompile(`(?m)^total\s`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("no line matching %s:\n%s", want, r)
		}
	}
	j := runIn(t, dir, "", "stats", "--json", "f.db")
	if j.code != 1 {
		t.Fatalf("want exit 1:\n%s", j)
	}
	st := decodeJSON[struct {
		Threads     int      `json:"threads"`
		Checkpoints int      `json:"checkpoints"`
		Damaged     []string `json:"damaged_threads"`
	}](t, j)
	if st.Threads != 3 || st.Checkpoints != 10 || len(st.Damaged) != 1 || st.Damaged[0] != `"b"` && st.Damaged[0] != "b" {
		t.Fatalf("stats --json %+v, want 3 threads, 10 checkpoints, b damaged:\n%s", st, j)
	}
}

func TestH239VerifySaysItsThreadCheckStoppedAtADamagedListOfThreads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31SmallOf(t, dir, "a", "b", "c")
	path := filepath.Join(dir, "f.db")
	// The threads bucket's page, its key "b" made "d": out of order.
	var root, ps int
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		root, ps = int(tx.Bucket([]byte("threads")).Root()), db.Info().PageSize
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := b[root*ps : (root+1)*ps]
	found := false
	for i := range int(binary.LittleEndian.Uint16(page[10:])) { // a leaf's elements: flags, pos, key size, value size
		e := 16 + i*16
		pos, ks := int(binary.LittleEndian.Uint32(page[e+4:])), int(binary.LittleEndian.Uint32(page[e+8:]))
		if root > 0 && e+pos+ks <= len(page) && string(page[e+pos:e+pos+ks]) == "b" {
			page[e+pos], found = 'd', true
		}
	}
	if !found {
		t.Fatalf("no key b in the threads bucket's page %d", root)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "verify", "f.db")
	if r.code != 1 || !strings.Contains(r.stdout, "the check stopped at damage outside any one thread") {
		t.Fatalf("want exit 1 and a line saying the check of the threads stopped:\n%s", r)
	}
	if strings.Contains(r.stdout, " sound") {
		t.Fatalf("a thread called sound:\n%s", r)
	}
	j := runIn(t, dir, "", "verify", "--json", "f.db")
	rep := decodeJSON[struct {
		OK         bool `json:"ok"`
		Incomplete bool `json:"incomplete"`
	}](t, j)
	if j.code != 1 || rep.OK || !rep.Incomplete {
		t.Fatalf("verify --json: %+v, want not ok and incomplete:\n%s", rep, j)
	}
}
