package ckpt

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// A keyed handle seals what it writes, and CopyThread now seals the plain
// records it copies (TestKeyedCopyThreadSealsThePlainRecordsItCopies); but
// Import wrote a plain dump's values, list segments and pending writes as
// the dump holds them: plaintext in a store its user encrypted, which
// nothing reported (SealedKeys counts sealed records only) and which a
// Rekey beside the Import (it lists the threads at its start) left there
// after returning nil. The imported thread must hold nothing a Rekey
// would still seal, read back whole, and the marker must name the key it
// is sealed under.
func TestKeyedImportSealsAPlainDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := openKeys(t, filepath.Join(t.TempDir(), "plain.db"))
	ids := writeCryptThread(t, src, "plain", 0, 3)
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	s := openKeys(t, filepath.Join(t.TempDir(), "keyed.db"), testKey(1, 1))
	defer s.Close()
	if _, err := s.Import(ctx, &dump, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, s, "plain", ids)
	unsealed := plainRecords(t, s, "plain")
	if unsealed > 0 {
		t.Fatalf("the keyed handle's import holds %d plain records (values, list segments, pending writes)", unsealed)
	}
	if got, err := s.SealedKeys(ctx); err != nil || len(got) != 1 || got[0] != 1 {
		t.Fatalf("SealedKeys after the import: %v (%v), want [1]", got, err)
	}
}
