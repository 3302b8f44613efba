package ckpt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportRefusesDamagedRecord: Export copied every record's stored
// bytes without checking its sum, so a store with a flipped bit exported
// "successfully" a dump that Import then refused (found by following the
// README: 'ckpt export' exited 0 on a damaged file). It fails with
// ErrCorrupt naming the record, as a read of it does.
func TestExportRefusesDamagedRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(t.Context(), "t", map[string]any{"note": "EXPORT-DAMAGE-SENTINEL"}, Metadata{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("EXPORT-DAMAGE-SENTINEL")) {
		t.Fatal("the value is not in the file as plain bytes")
	}
	data = bytes.ReplaceAll(data, []byte("EXPORT-DAMAGE-SENTINEL"), []byte("EXPORT-DAMAGE-SENTINEl"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.Export(t.Context(), io.Discard, ExportOptions{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `thread "t"`) || !strings.Contains(err.Error(), `channel "note"`) {
		t.Fatalf("Export of a damaged value: %v, want ErrCorrupt naming thread and channel", err)
	}
}
