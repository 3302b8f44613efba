//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// H240: the CLI end to end over a file with a page cycle in one thread
// (what h229CycleFiles makes in the core's tests, made here by hand, as
// TestH231DamagedNestedRootIDCostsItsThreadOnly does): the header of
// thread b's value bucket, in the leaf page of b's bucket, names that
// leaf page as the value bucket's root, so a walk down into it never
// ends unless it is caught. The h230 tests damage a record (a checksum
// fails); this damages the pages a read-only Open must walk around.
// verify, threads and export --skip-damaged name b, exit 1 (the
// "damaged" status), and the dump holds a and c exactly as a dump of the
// sound file did: it imports into a fresh store that holds those two
// threads and no other.

// h240CycleFile writes dir/f.db with threads a and c (h31Thread) and b,
// whose value bucket spans several pages, and dumps it to
// dir/sound.jsonl before the damage. It then points the root of b's
// value bucket at the page that holds its header.
func h240CycleFile(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "f.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"a", "c"} {
		if _, err := h31Thread(ctx, s, th, "", 5, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		doc := strings.Repeat(fmt.Sprintf("b doc %d|", i), 2<<10/8) // 2 KiB, a new value each
		if _, err := s.Save(ctx, "b", map[string]any{"doc": doc, "n": i}, ckpt.Metadata{"step": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := runIn(t, dir, "", "export", "f.db", "-o", "sound.jsonl"); r.code != 0 {
		t.Fatalf("export of the sound file:\n%s", r)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var holder, root uint64
	pageSize := db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("threads")).Bucket([]byte("b"))
		bl := b.Bucket([]byte("bl"))
		if bl == nil {
			return fmt.Errorf("thread b has no bl bucket")
		}
		holder, root = uint64(b.Root()), uint64(bl.Root())
		if root == 0 {
			return fmt.Errorf("b's value bucket is inline")
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pg := file[int(holder)*pageSize:]
	// bbolt's page: id (8), flags (2), count (2), overflow (4); a leaf
	// page's elements follow, 16 bytes each: flags, pos, ksize, vsize (4
	// each), pos counted from the element; a bucket's value starts with
	// its root page id (8).
	if binary.LittleEndian.Uint64(pg) != holder || binary.LittleEndian.Uint16(pg[8:]) != 0x02 {
		t.Fatalf("page %d is not the leaf page thread b's bucket names", holder)
	}
	found := false
	for i := range int(binary.LittleEndian.Uint16(pg[10:])) {
		e := pg[16+16*i:]
		pos, ksize := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:])
		k := e[pos : pos+ksize]
		if string(k) != "bl" {
			continue
		}
		v := e[pos+ksize:]
		if binary.LittleEndian.Uint64(v) != root {
			t.Fatalf("the header of b's value bucket names root %d, want %d", binary.LittleEndian.Uint64(v), root)
		}
		binary.LittleEndian.PutUint64(v, holder)
		found = true
	}
	if !found {
		t.Fatal("no element bl in thread b's leaf page")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// h240DumpThreads reads a dump: the lines of each thread, in order.
func h240DumpThreads(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec struct {
			Thread string `json:"thread"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rec.Thread != "" {
			out[rec.Thread] = append(out[rec.Thread], sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestH240CLIOnAPageCycleNamesTheThreadAndSavesTheOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h240CycleFile(t, dir)

	v := h31Exec(t, dir, "verify", "f.db")
	if v.code != 1 || !strings.Contains(v.stdout, `thread="b"`) || !strings.Contains(v.stdout, "a cycle of pages") || !strings.Contains(v.stdout, `2 threads sound, 1 damaged: "b"`) {
		t.Errorf("verify: want exit 1 naming thread b and the cycle, 2 sound and 1 damaged:\n%s", v)
	}
	if p := h31Clean(v, true); p != "" {
		t.Errorf("verify: %s:\n%s", p, v)
	}

	th := h31Exec(t, dir, "threads", "f.db")
	failsWith(t, th, 1, "1 thread could not be read")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^a\s+\(root\)\s+5\s`),
		regexp.MustCompile(`(?m)^b\s+damaged\b`),
		regexp.MustCompile(`(?m)^c\s+\(root\)\s+5\s`),
	} {
		if !want.MatchString(th.stdout) {
			t.Errorf("threads: no line matching %s:\n%s", want, th)
		}
	}

	plain := h31Exec(t, dir, "export", "f.db", "-o", "all.jsonl")
	if plain.code != 1 || !strings.Contains(plain.stderr, "--skip-damaged") {
		t.Errorf("export without --skip-damaged: want exit 1 pointing at --skip-damaged:\n%s", plain)
	}
	ex := h31Exec(t, dir, "export", "--skip-damaged", "f.db", "-o", "good.jsonl")
	failsWith(t, ex, 1, `left out 1 damaged thread: "b"`)
	sound, good := h240DumpThreads(t, filepath.Join(dir, "sound.jsonl")), h240DumpThreads(t, filepath.Join(dir, "good.jsonl"))
	if keys := slices.Sorted(maps.Keys(good)); !slices.Equal(keys, []string{"a", "c"}) {
		t.Fatalf("the dump holds threads %q, want a and c", keys)
	}
	for _, th := range []string{"a", "c"} {
		if !slices.Equal(good[th], sound[th]) {
			t.Errorf("thread %s: the dump of the damaged file differs from the sound file's (%d lines, want %d)", th, len(good[th]), len(sound[th]))
		}
	}

	if im := runIn(t, dir, "", "import", "new.db", "good.jsonl"); im.code != 0 {
		t.Fatalf("import of the dump:\n%s", im)
	}
	if v := runIn(t, dir, "", "verify", "new.db"); v.code != 0 || !strings.Contains(v.stdout, "checked 2 threads") {
		t.Fatalf("verify of the imported file:\n%s", v)
	}
	rows := decodeJSON[[]struct {
		Thread      string `json:"thread"`
		Checkpoints int    `json:"checkpoints"`
	}](t, runIn(t, dir, "", "threads", "--json", "new.db"))
	got := map[string]int{}
	for _, r := range rows {
		got[r.Thread] = r.Checkpoints
	}
	if len(got) != 2 || got["a"] != 5 || got["c"] != 5 {
		t.Errorf("the imported store holds %v, want a and c of 5 checkpoints each", got)
	}
	if again := runIn(t, dir, "", "export", "new.db", "-o", "again.jsonl"); again.code != 0 {
		t.Fatalf("export of the imported file:\n%s", again)
	}
	if back := h240DumpThreads(t, filepath.Join(dir, "again.jsonl")); !slices.Equal(back["a"], sound["a"]) || !slices.Equal(back["c"], sound["c"]) || len(back) != 2 {
		t.Errorf("the imported store's threads differ from the sound file's")
	}
}
