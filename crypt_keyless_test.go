package ckpt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// leak is the value of writes that must be refused.
const leak = "KEYLESS-PLAINTEXT-LEAK"

// countCheckpoints counts the checkpoints of thread.
func countCheckpoints(t *testing.T, s *Store, thread string) int {
	t.Helper()
	n := 0
	for _, err := range s.List(context.Background(), ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// wantEncryptedRefusal checks that err is the refusal of a write from a
// handle without keys on an encrypted store, naming the key ids.
func wantEncryptedRefusal(t *testing.T, what string, err error, ids string) {
	t.Helper()
	if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "the store is encrypted (key ids "+ids+")") {
		t.Fatalf("%s: %v, want ErrKey \"the store is encrypted (key ids %s)...\"", what, err, ids)
	}
}

// keylessWritesRefused opens path without keys and tries every write that
// stores a value or a pending write: each fails with ErrKey, nothing is
// stored, and what they tried to write (leak) is nowhere in the file or its
// log, nor is the sentinel if the file held it only sealed (clean).
func keylessWritesRefused(t *testing.T, path, thread string, before int, dump []byte, ids string, clean bool) {
	t.Helper()
	ctx := context.Background()
	s := openKeys(t, path)
	_, err := s.Save(ctx, "new-thread", map[string]any{"note": leak}, Metadata{})
	wantEncryptedRefusal(t, "Save to a new thread", err, ids)
	_, err = s.Save(ctx, thread, map[string]any{"note": leak}, Metadata{})
	wantEncryptedRefusal(t, "Save", err, ids)
	_, err = s.PutFull(ctx, Config{ThreadID: "new-thread"}, Checkpoint{ChannelValues: map[string]any{"x": leak},
		ChannelVersions: map[string]string{"x": "1"}}, Metadata{}, map[string]string{"x": "1"},
		[]TaskWrites{{TaskID: "t", Writes: []Write{{Channel: "w", Value: leak}}}})
	wantEncryptedRefusal(t, "PutFull", err, ids)
	_, err = s.Put(ctx, Config{ThreadID: "new-thread"}, Checkpoint{ChannelValues: map[string]any{"x": leak},
		ChannelVersions: map[string]string{"x": "1"}}, Metadata{}, map[string]string{"x": "1"})
	wantEncryptedRefusal(t, "Put", err, ids)
	var latest string
	for tup, err := range s.List(ctx, ListOptions{ThreadID: thread, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		latest = tup.Checkpoint.ID
	}
	err = s.PutWrites(ctx, Config{ThreadID: thread, CheckpointID: latest}, []Write{{Channel: "w", Value: leak}}, "t2", "")
	wantEncryptedRefusal(t, "PutWrites", err, ids)
	err = s.CopyThread(ctx, thread, "copy", CopyOptions{})
	wantEncryptedRefusal(t, "CopyThread", err, ids)
	if dump != nil {
		_, err = s.Import(ctx, bytes.NewReader(dump), ImportOptions{})
		wantEncryptedRefusal(t, "Import", err, ids)
	}
	wal := readIf(t, path+"-wal")
	if n := countCheckpoints(t, s, thread); n != before {
		t.Fatalf("thread %s holds %d checkpoints after the refused writes, want %d", thread, n, before)
	}
	for _, th := range []string{"new-thread", "copy", "plain"} {
		if n := countCheckpoints(t, s, th); n != 0 {
			t.Fatalf("thread %s holds %d checkpoints after the refused writes", th, n)
		}
	}
	// Deletes write no plaintext: they stay allowed.
	if err := s.DeleteThread(ctx, "gone"); err != nil {
		t.Fatalf("DeleteThread without keys: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for what, b := range map[string][]byte{"the -wal before Close": wal, "the file after Close": readIf(t, path), "the -wal after Close": readIf(t, path+"-wal")} {
		if bytes.Contains(b, []byte(leak)) {
			t.Errorf("%s holds a refused write's value", what)
		}
		if clean {
			mustNotContain(t, what, b)
		}
	}
}

// TestEncryptionKeylessHandleWritesNothing: a handle opened without keys on
// an encrypted store reads ids and metadata, but every write that would
// store a value or a pending write fails with ErrKey and stores nothing,
// so no plaintext reaches the file.
func TestEncryptionKeylessHandleWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "enc.db")
	s := openKeys(t, path, testKey(3, 1))
	writeCryptThread(t, s, "th", 0, 3)
	writeCryptThread(t, s, "gone", 0, 1)
	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ExportOptions{Threads: []string{"th"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A plain dump too: importing it would write plaintext.
	p := openKeys(t, filepath.Join(dir, "plain.db"))
	if _, err := p.Save(ctx, "plain", map[string]any{"note": leak}, Metadata{}); err != nil {
		t.Fatal(err)
	}
	var plainDump bytes.Buffer
	if _, err := p.Export(ctx, &plainDump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Close()

	keylessWritesRefused(t, path, "th", 3, plainDump.Bytes(), "3", true)

	// The keys still write, and read what was there.
	s = openKeys(t, path, testKey(3, 1))
	ids := writeCryptThread(t, s, "more", 0, 2)
	checkCryptThread(t, s, "more", ids)
	s.Close()
}

// TestEncryptionKeylessLegacyFile: a file encrypted before the store
// recorded that it is (no marker) is recognised from its sealed records,
// and a damaged one among them does not keep the file from opening.
func TestEncryptionKeylessLegacyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "legacy.db")
	s := openKeys(t, path, testKey(4, 1))
	writeCryptThread(t, s, "th", 0, 2)
	writeCryptThread(t, s, "gone", 0, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		bl := tx.Bucket(bucketThreads).Bucket([]byte("gone")).Bucket(bucketBlobs) // a thread the test only deletes
		k, v := bl.Cursor().First()
		v = bytes.Clone(v)
		v[len(v)/2] ^= 1
		if err := bl.Put(bytes.Clone(k), v); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keySealedKeys)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	keylessWritesRefused(t, path, "th", 2, nil, "4", true)
}

// TestEncryptionKeyedOnPlainStore: a keyed handle on a plain store seals
// what it writes and still reads the plain records; from then on the store
// is encrypted, and Rekey leaves the newest key as the one in use.
func TestEncryptionKeyedOnPlainStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s := openKeys(t, path)
	ids := writeCryptThread(t, s, "th", 0, 2)
	writeCryptThread(t, s, "gone", 0, 1)
	s.Close()
	// Plain, a keyless handle writes.
	s = openKeys(t, path)
	ids = append(ids, writeCryptThread(t, s, "th", 2, 1)...)
	s.Close()

	s = openKeys(t, path, testKey(5, 1))
	ids = append(ids, writeCryptThread(t, s, "th", 3, 2)...)
	checkCryptThread(t, s, "th", ids)
	s.Close()
	keylessWritesRefused(t, path, "th", 5, nil, "5", false)

	s = openKeys(t, path, testKey(6, 2), testKey(5, 1))
	if _, err := s.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, s, "th", ids)
	s.Close()
	keylessWritesRefused(t, path, "th", 5, nil, "6", false)
}

// TestEncryptionImportSealedMarksStore: importing an encrypted dump into a
// plain store (no plaintext: the records stay sealed) makes it an
// encrypted store, so a keyless handle does not then write plain beside
// the sealed records.
func TestEncryptionImportSealedMarksStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := openKeys(t, filepath.Join(dir, "src.db"), testKey(9, 1))
	writeCryptThread(t, src, "th", 0, 2)
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	path := filepath.Join(dir, "dst.db")
	dst := openKeys(t, path)
	writeCryptThread(t, dst, "gone", 0, 1)
	if _, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same handle refuses from now on.
	_, err := dst.Save(ctx, "th", map[string]any{"note": leak}, Metadata{})
	wantEncryptedRefusal(t, "Save after importing sealed records", err, "9")
	dst.Close()
	keylessWritesRefused(t, path, "th", 2, nil, "9", false)
}
