//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// H230: a file with one thread damaged (a flipped byte in the thread's
// newest checkpoint record: its checksum fails) and the others sound.
// verify names the damaged thread and checks the rest, counting sound and
// damaged threads; threads lists every thread, marking the damaged one,
// and exits 1 saying how many it could not read; export --skip-damaged
// writes every readable thread whole, names the one it left out on
// stderr and exits 1. Exit 1 is the "damaged" status throughout.

// h230Damaged writes dir/f.db with threads a, b, c (h31SmallOf) and
// flips a byte inside thread b's newest checkpoint record.
func h230Damaged(t *testing.T, dir string) {
	t.Helper()
	h31SmallOf(t, dir, "a", "b", "c")
	db, err := bolt.Open(filepath.Join(dir, "f.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("threads")).Bucket([]byte("b")).Bucket([]byte("cp"))
		k, v := b.Cursor().Last()
		v = append([]byte(nil), v...)
		v[len(v)/2] ^= 0x10
		return b.Put(append([]byte(nil), k...), v)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestH230VerifyNamesTheDamagedThreadAndCountsTheSoundOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h230Damaged(t, dir)
	r := runIn(t, dir, "", "verify", "f.db")
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	if !strings.Contains(r.stdout, `thread="b"`) {
		t.Fatalf("no problem names thread b:\n%s", r)
	}
	if !strings.Contains(r.stdout, "checked 3 threads") {
		t.Fatalf("not every thread checked:\n%s", r)
	}
	if !strings.Contains(r.stdout, `2 threads sound, 1 damaged: "b"`) {
		t.Fatalf("no count of sound and damaged threads:\n%s", r)
	}
	j := runIn(t, dir, "", "verify", "--json", "f.db")
	rep := decodeJSON[struct {
		DamagedThreads []string `json:"damaged_threads"`
	}](t, j)
	if len(rep.DamagedThreads) != 1 || rep.DamagedThreads[0] != `"b"` && rep.DamagedThreads[0] != "b" {
		t.Fatalf("damaged_threads %q, want [b]:\n%s", rep.DamagedThreads, j)
	}
}

func TestH230ThreadsListsEveryThreadItCanAndMarksTheDamagedOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h230Damaged(t, dir)
	r := runIn(t, dir, "", "threads", "f.db")
	failsWith(t, r, 1, "1 thread could not be read")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^a\s+\(root\)\s+5\s`),
		regexp.MustCompile(`(?m)^b\s+damaged\b`),
		regexp.MustCompile(`(?m)^c\s+\(root\)\s+5\s`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("no line matching %s:\n%s", want, r)
		}
	}
	j := runIn(t, dir, "", "threads", "--json", "f.db")
	if j.code != 1 {
		t.Fatalf("want exit 1:\n%s", j)
	}
	rows := decodeJSON[[]struct {
		Thread  string `json:"thread"`
		Damaged string `json:"damaged"`
	}](t, j)
	got := map[string]string{}
	for _, row := range rows {
		got[row.Thread] = row.Damaged
	}
	if len(got) != 3 || got["a"] != "" || got["c"] != "" || got["b"] == "" {
		t.Fatalf("rows %+v, want a and c sound, b damaged:\n%s", rows, j)
	}
}

func TestH230ExportSkipDamagedWritesEveryOtherThreadAndNamesTheLostOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h230Damaged(t, dir)
	// Without the flag export stops at the damage, as it did.
	plain := runIn(t, dir, "", "export", "f.db", "-o", "all.jsonl")
	if plain.code != 1 || !strings.Contains(plain.stderr, "--skip-damaged") {
		t.Fatalf("want exit 1 pointing at --skip-damaged:\n%s", plain)
	}
	r := runIn(t, dir, "", "export", "--skip-damaged", "f.db", "-o", "good.jsonl")
	failsWith(t, r, 1, `left out 1 damaged thread: "b"`)
	f, err := os.Open(filepath.Join(dir, "good.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	threads := map[string]int{}
	end := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Kind   string `json:"kind"`
			Thread string `json:"thread"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		end = end || rec.Kind == "end"
		if rec.Thread != "" {
			threads[rec.Thread]++
		}
	}
	if !end || threads["a"] == 0 || threads["c"] == 0 || threads["b"] != 0 {
		t.Fatalf("dump: end line %v, records per thread %v; want a and c whole, no b", end, threads)
	}
	// The dump is whole: import takes it, and the two threads read back.
	if im := runIn(t, dir, "", "import", "new.db", "good.jsonl"); im.code != 0 {
		t.Fatalf("import of the dump:\n%s", im)
	}
	if v := runIn(t, dir, "", "verify", "new.db"); v.code != 0 || !strings.Contains(v.stdout, "checked 2 threads") {
		t.Fatalf("verify of the imported file:\n%s", v)
	}
}
