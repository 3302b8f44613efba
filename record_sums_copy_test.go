package ckpt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// mixedSumStore makes a store whose file holds records of both sums: what
// fillForUpgrade stores, rewritten as format 3 wrote it (CRC-32C), then
// upgraded by its marker on a read-write Open, and written on (XXH3): new
// threads, and the list thread continued, so that one list has segments of
// both sums.
func mixedSumStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mixed.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	fillForUpgrade(t, s)
	toFormat3(t, s)
	putChain(t, s, "format4", "", 3)
	toFormat(t, s, 4, "format4")
	putChain(t, s, "format5", "", 3)
	toFormat(t, s, 5, "format5") // and the file is marked 5
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{Durability: NoSync}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	putChain(t, s, "after-upgrade", "", 3)
	tp, err := s.GetTuple(ctx, Config{ThreadID: "lists"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tp.Config
	var msgs []any
	for i := range 50 { // fillForUpgrade's 40, then 10 more
		msgs = append(msgs, map[string]any{"role": "user", "n": i, "text": strings.Repeat("m", i)})
		if i < 40 {
			continue
		}
		v := strconv.Itoa(i + 1)
		cfg, err = s.Put(ctx, cfg, Checkpoint{ChannelValues: map[string]any{"messages": msgs},
			ChannelVersions: map[string]string{"messages": v, "big": "1"}}, Metadata{"step": i}, map[string]string{"messages": v})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "messages", Value: "pending"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if crc, xxh, keyed, threaded := recordSums(t, s); crc == 0 || xxh == 0 || keyed == 0 || threaded == 0 {
		t.Fatalf("the store is not mixed: %d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", crc, xxh, keyed, threaded)
	}
	return s
}

// checkSameStore checks that the store at path reads back want, every
// value, and that Verify finds nothing wrong; mixed says it must still hold
// records of both sums (a byte copy of the file).
func checkSameStore(t *testing.T, path string, want []string, mixed bool) {
	t.Helper()
	c, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer c.Close()
	if got := storeState(t, c); !slices.Equal(got, want) {
		t.Fatalf("the copy reads back otherwise:\n got %q\nwant %q", got, want)
	}
	rep, err := c.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify the copy: %v, %v", err, rep.Problems)
	}
	if crc, xxh, keyed, threaded := recordSums(t, c); mixed && (crc == 0 || xxh == 0 || keyed == 0 || threaded == 0) {
		t.Fatalf("the copy lost one of the sums: %d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", crc, xxh, keyed, threaded)
	}
}

// TestMixedSumFileSurvivesEveryCopy: a file holding both CRC-32C (format 3)
// and XXH3 records comes out of Backup, BackupFile, Compact and an export
// imported into a new store with every value reading back the same and
// Verify clean; the byte copies (the backups, the compacted file) keep
// both sums.
func TestMixedSumFileSurvivesEveryCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mixedSumStore(t)
	want := storeState(t, s)
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify the source: %v, %v", err, rep.Problems)
	}
	dir := t.TempDir()

	var buf bytes.Buffer
	if err := s.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	stream := filepath.Join(dir, "stream.db")
	if err := os.WriteFile(stream, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	checkSameStore(t, stream, want, true)

	file := filepath.Join(dir, "file.db")
	if err := s.BackupFile(ctx, file); err != nil {
		t.Fatal(err)
	}
	checkSameStore(t, file, want, true)

	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	imported := filepath.Join(dir, "imported.db")
	is, err := Open(imported, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Import(ctx, &dump, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := is.Close(); err != nil {
		t.Fatal(err)
	}
	checkSameStore(t, imported, want, false)

	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkSameStore(t, s.Path(), want, true)
}
