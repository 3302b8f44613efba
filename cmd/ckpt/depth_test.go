package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportRefusesDeepNesting: a dump line whose metadata record has a
// valid checksum but nests lists 32 Mi deep (as a forger would write it)
// fails the import with one line naming the dump line, and leaves no
// file. Decoding it by recursion overflowed the goroutine stack: a fatal
// error, not a panic, that killed ckpt with a stack trace.
func TestImportRefusesDeepNesting(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	lines := strings.SplitAfter(ok(t, dir, "export", db).stdout, "\n")
	// metadata record version 2: [2][a map {"m": [[[...]]]}][CRC-32C LE].
	md := append([]byte{2, 0x81, 0xa1, 'm'}, bytes.Repeat([]byte{0x91}, 32<<20)...)
	md = append(md, 0xc0)
	md = binary.LittleEndian.AppendUint32(md, crc32.Checksum(md, crc32.MakeTable(crc32.Castagnoli)))
	forged := 0
	for i, l := range lines {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) != nil || rec["kind"] != "checkpoint" {
			continue
		}
		rec["metadata"] = base64.StdEncoding.EncodeToString(md)
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = string(b) + "\n"
		forged = i + 1
		break
	}
	if forged == 0 {
		t.Fatal("no checkpoint line in the dump")
	}
	r := runIn(t, dir, strings.Join(lines, ""), "import", filepath.Join(dir, "deep.db"))
	failsWith(t, r, 1, "nested deeper than 10000")
	if want := "line " + strconv.Itoa(forged) + ":"; !strings.Contains(r.stderr, want) {
		t.Fatalf("the error does not name %q:\n%s", want, r)
	}
	if _, err := os.Stat(filepath.Join(dir, "deep.db")); !os.IsNotExist(err) {
		t.Fatalf("a failed import left deep.db behind: %v", err)
	}
}
