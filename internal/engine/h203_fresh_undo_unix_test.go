//go:build unix

package engine

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// TestFreshUndoTakesBackWholeNewPages: a failed Open that created the
// file takes back bbolt's four new pages too (their fsync failed: never
// durable, yet a later Open would commit into them), and only those: four
// pages naming a later transaction are a store, and stay.
func TestFreshUndoTakesBackWholeNewPages(t *testing.T) {
	const ps = 4096
	for _, tc := range []struct {
		name    string
		change  func([]byte)
		removed bool
	}{
		{"new pages", func([]byte) {}, true},
		{"a later transaction", func(b []byte) {
			binary.LittleEndian.PutUint64(b[ps+pageHeaderSize+48:], 3)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			b := newFilePages(ps)
			tc.change(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			(&freshFile{fi: fi, created: true}).undo(path, ps)
			_, err = os.Stat(path)
			if removed := os.IsNotExist(err); removed != tc.removed {
				t.Fatalf("removed %v, want %v (%v)", removed, tc.removed, err)
			}
		})
	}
}
