package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// `ckpt import --key-file K FILE DUMP` of a plain dump into a missing FILE
// built the new file without the key: its values stayed in plaintext, and
// the file did not say it was encrypted, where the same command into an
// existing file seals them (a keyed handle writes no plaintext,
// docs/encryption.md). The new file is sealed under the key: without it
// no value reads (ErrKey), with it each reads as exported.
func TestImportKeyFileIntoANewFileSeals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := ckpt.Open(src, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"v": "secret value"}, nil); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dumpFile, keyFile := filepath.Join(dir, "d.jsonl"), filepath.Join(dir, "k")
	key := cliKey(9, 3)
	if err := os.WriteFile(keyFile, []byte("9 "+hex.EncodeToString(key.Secret[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dumpFile, dump.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, existing := range []bool{false, true} {
		db := filepath.Join(dir, "new.db")
		if existing {
			db = filepath.Join(dir, "old.db")
			e, err := ckpt.Open(db, ckpt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		}
		ok(t, dir, "import", "--key-file", keyFile, db, dumpFile)
		for _, enc := range []*ckpt.Encryption{nil, {Keys: []ckpt.Key{key}}} {
			d, err := ckpt.Open(db, ckpt.Options{Encryption: enc, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			tp, err := d.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
			if err != nil {
				t.Fatal(err)
			}
			var v string
			err = tp.Decode("v", &v)
			ids, kerr := d.SealedKeys(ctx)
			_ = d.Close()
			switch {
			case kerr != nil || !slices.Equal(ids, []uint32{9}):
				t.Errorf("import into an existing file %t: SealedKeys %v %v, want [9]", existing, ids, kerr)
			case enc == nil && !errors.Is(err, ckpt.ErrKey):
				t.Errorf("import into an existing file %t: without the key the value reads %q (%v), want ErrKey", existing, v, err)
			case enc != nil && (err != nil || v != "secret value"):
				t.Errorf("import into an existing file %t: with the key the value reads %q (%v)", existing, v, err)
			}
		}
		if raw, err := os.ReadFile(db); err != nil || bytes.Contains(raw, []byte("secret value")) {
			t.Errorf("import into an existing file %t: the file holds the value in plaintext (%v)", existing, err)
		}
	}
}
