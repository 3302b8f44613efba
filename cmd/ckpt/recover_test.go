package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if !strings.Contains(out, "header") || !strings.Contains(out, "88 byte(s)") || !strings.Contains(out, "demo.db-wal.damaged-") {
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
