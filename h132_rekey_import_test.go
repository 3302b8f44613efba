package ckpt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestRekeyDuringAnImportKeepsTheImportedKeysInTheMarker: an Import of a
// dump sealed under key 1 runs while Rekey (keys 2, 1) runs. Rekey does
// not see the threads being imported (they are hidden until published),
// so it cannot re-seal them; it must not then drop key 1 from the store's
// encryption marker either. It did: SealedKeys said [2] while the imported
// thread's values and pending writes were all under key 1, so a user who
// trusted it and dropped key 1 could no longer read the thread (ErrKey).
// The interleaving is forced without goroutines: Rekey runs in the
// import's Progress callback, after its (only) batch committed and before
// it publishes the thread.
func TestRekeyDuringAnImportKeepsTheImportedKeysInTheMarker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	src := openKeys(t, filepath.Join(dir, "src.db"), testKey(1, 1))
	ids := writeCryptThread(t, src, "imported", 0, 3)
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "dst.db")
	s := openKeys(t, path, testKey(2, 2), testKey(1, 1))
	own := writeCryptThread(t, s, "own", 0, 2)
	var rekeyErr error
	rekeys := 0
	_, err := s.Import(ctx, &dump, ImportOptions{Progress: func(int64) {
		rekeys++
		_, rekeyErr = s.Rekey(ctx)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rekeys == 0 || rekeyErr != nil {
		t.Fatalf("Rekey ran %d times during the import, last error %v", rekeys, rekeyErr)
	}
	keys, err := s.SealedKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, s, "imported", ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// What the marker says is what reads need: either key 1 is still
	// listed, or the imported thread opens with key 2 alone.
	if slices.Contains(keys, 1) {
		return
	}
	s = openKeys(t, path, testKey(2, 2))
	defer s.Close()
	checkCryptThread(t, s, "own", own)
	for i, id := range ids {
		_, err := s.GetTuple(ctx, Config{ThreadID: "imported", CheckpointID: id})
		if errors.Is(err, ErrKey) {
			t.Fatalf("SealedKeys said %v after Rekey, but checkpoint %d of the imported thread needs key 1: %v", keys, i, err)
		}
	}
	checkCryptThread(t, s, "imported", ids)
}
