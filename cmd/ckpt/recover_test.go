package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// recover moves a damaged log aside and says so; the store then opens.
func TestRecover(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	out := ok(t, dir, "recover", db).stdout
	if !strings.Contains(out, "not damaged") {
		t.Fatalf("recover of a sound store =\n%s", out)
	}
	// A log whose header (its identity) is damaged, with records after it.
	log := append([]byte("ckpt-wal\x00\x00\x00\x01"), bytes.Repeat([]byte{0xab}, 12+64)...)
	if err := os.WriteFile(db+"-wal", log, 0o600); err != nil {
		t.Fatal(err)
	}
	failsWith(t, runIn(t, dir, "", "threads", db), 1, "ckpt recover")
	out = ok(t, dir, "recover", db).stdout
	if !strings.Contains(out, "header") || !strings.Contains(out, "88 bytes") || !strings.Contains(out, "demo.db-wal.damaged-") {
		t.Fatalf("recover =\n%s", out)
	}
	moved, err := filepath.Glob(db + "-wal.damaged-*")
	if err != nil || len(moved) != 1 {
		t.Fatalf("the damaged log: %v %v", moved, err)
	}
	if b, err := os.ReadFile(moved[0]); err != nil || !bytes.Equal(b, log) {
		t.Fatalf("the damaged log was changed (%v)", err)
	}
	if !strings.Contains(ok(t, dir, "threads", db).stdout, "demo") {
		t.Fatal("threads after recover")
	}
}

// A damaged bbolt meta page: commands that open the store read-write
// refuse it and name recover; recover rewrites the page from the other one
// and says so; the store then opens.
func TestRecoverDamagedMetaPage(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// Meta page 1 (page size 4096 on the machines these tests run on:
	// bbolt's default is the OS page size); byte 20 of its meta.
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	data[ps+16+20] ^= 0x01
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	failsWith(t, runIn(t, dir, "", "gc", "--keep-last", "100", db), 1, "ckpt recover")
	out := ok(t, dir, "recover", db).stdout
	if !strings.Contains(out, "meta page 1") || !strings.Contains(out, "rewrote the damaged meta page") {
		t.Fatalf("recover =\n%s", out)
	}
	ok(t, dir, "gc", "--keep-last", "100", db)
	if !strings.Contains(ok(t, dir, "verify", db).stdout, "OK") {
		t.Fatal("verify after recover")
	}
}

// recover on a damaged store file: a page bbolt panics on (the root
// page's type made branch and leaf at once, which the page check before
// a write refuses since h22-guard: before, bbolt's panic in the read of
// the store's mark was recovered), and a file cut short. recover exits 1
// with one line naming the damage, no stack trace, and changes neither
// file.
func TestRecoverOnADamagedFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(data[16+8:]))
	newest := 0
	if binary.LittleEndian.Uint64(data[ps+16+48:]) > binary.LittleEndian.Uint64(data[16+48:]) {
		newest = 1
	}
	root := int(binary.LittleEndian.Uint64(data[newest*ps+16+16:])) // the meta's root bucket's page
	badPage := bytes.Clone(data)
	badPage[root*ps+8] |= 0x03
	log := append([]byte("ckpt-wal\x00\x00\x00\x01"), bytes.Repeat([]byte{0xab}, 12+64)...)
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"DamagedPage", badPage, fmt.Sprintf("branch or leaf page %d: unexpected type 0x3", root)},
		{"CutShort", data[:3*ps], "the file ends at page 3"},
	} {
		file, want := c.file, c.want
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(db, file, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db+"-wal", log, 0o600); err != nil {
				t.Fatal(err)
			}
			r := runIn(t, dir, "", "recover", db)
			failsWith(t, r, 1, "it is damaged ("+want)
			// The library's error, not main's backstop for a panic that
			// got out ("failed while reading the file"), and the path
			// once.
			if strings.Count(r.stderr, db) != 1 {
				t.Fatalf("want the path once:\n%s", r)
			}
			if b, err := os.ReadFile(db); err != nil || !bytes.Equal(b, file) {
				t.Fatalf("recover changed the store file (%v)", err)
			}
			if b, err := os.ReadFile(db + "-wal"); err != nil || !bytes.Equal(b, log) {
				t.Fatalf("recover changed or moved the log (%v)", err)
			}
		})
	}
}

// A store file copied while a writer had it open, without its log: every
// command refuses it naming recover; recover accepts the file as it is and
// says so; the copy then opens.
func TestRecoverFileWithoutItsLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "live.db")
	s, err := ckpt.Open(src, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(context.Background(), "t1", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"threads", db}, {"verify", db}, {"gc", db, "--keep-last", "1"}} {
		r := runIn(t, dir, "", args...)
		failsWith(t, r, 1, "ckpt recover")
		if !strings.Contains(r.stderr, "missing") {
			t.Fatalf("%s: %s", args[0], r.stderr)
		}
	}
	out := ok(t, dir, "recover", db).stdout
	if !strings.Contains(out, "accepted the file as it is") {
		t.Fatalf("recover =\n%s", out)
	}
	ok(t, dir, "threads", db)
	if out := ok(t, dir, "recover", db).stdout; !strings.Contains(out, "not damaged") {
		t.Fatalf("recover again =\n%s", out)
	}
}
