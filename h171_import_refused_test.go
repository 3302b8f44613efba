package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// refusedDumps are inputs an import refuses at their first line: no dump
// at all, or a dump of another format version.
var refusedDumps = []struct {
	name, dump string
	want       error
}{
	{"empty", "", ErrDump},
	{"no header", "garbage\n", ErrDump},
	{"no newline", "garbage", ErrDump},
	{"a JSON line", `{"kind":"checkpoint"}` + "\n", ErrDump},
	{"future format", `{"ckpt_export":99}` + "\n", ErrFormatVersion},
}

// TestImportFileOfARefusedDumpLeavesTheFileAsItWas: ImportFile into an
// existing store of an input that is no dump this build reads. It opened
// the store for writing before it read a byte of the input, and a
// read-write Open writes (the log's binding, bbolt's meta pages): the
// file changed although the import was refused at its first line. The
// header is checked before the store is opened: the file stays
// byte-identical, and no log is left beside it.
func TestImportFileOfARefusedDumpLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	path, _ := existingStore(t)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range refusedDumps {
		_, err := ImportFile(context.Background(), path, strings.NewReader(c.dump), Options{}, ImportOptions{})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: ImportFile: %v, want %v", c.name, err, c.want)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the refused import changed %s", c.name, path)
		}
		if _, err := os.Lstat(path + walSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a log beside the file after a refused import: %v", c.name, err)
		}
	}
}
