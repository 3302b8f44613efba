package ckpt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const sentinel = "SECRET-SENTINEL"

func testKey(id uint32, seed byte) Key {
	k := Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = seed + byte(i)
	}
	return k
}

func openKeys(t *testing.T, path string, keys ...Key) *Store {
	t.Helper()
	opts := Options{}
	if len(keys) > 0 {
		opts.Encryption = &Encryption{Keys: keys}
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cryptState is step's state: a list channel that grows by one message a
// step (stored as append-deltas), a value that changes, one that does not.
func cryptState(step int) map[string]any {
	msgs := make([]any, step+1)
	for i := range msgs {
		msgs[i] = map[string]any{"role": "user", "content": fmt.Sprintf("%s message %d", sentinel, i)}
	}
	return map[string]any{
		"messages": msgs,
		"note":     fmt.Sprintf("%s note %d", sentinel, step),
		"fixed":    sentinel + " unchanged",
	}
}

// writeCryptThread saves steps checkpoints to thread, each with a pending
// write holding the sentinel, and returns their ids.
func writeCryptThread(t *testing.T, s *Store, thread string, from, steps int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := from; i < from+steps; i++ {
		id, err := s.Save(ctx, thread, cryptState(i), Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{ThreadID: thread, CheckpointID: id}
		if err := s.PutWrites(ctx, cfg, []Write{{Channel: "tool", Value: fmt.Sprintf("%s write %d", sentinel, i)}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkCryptThread reads every checkpoint back and compares it.
func checkCryptThread(t *testing.T, s *Store, thread string, ids []string) {
	t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		tup, err := s.GetTuple(ctx, Config{ThreadID: thread, CheckpointID: id})
		if err != nil {
			t.Fatalf("thread %s checkpoint %d: %v", thread, i, err)
		}
		want := cryptState(i)
		for ch, w := range want {
			got, err := tup.Checkpoint.ChannelValues[ch].(Raw).Value()
			if err != nil {
				t.Fatalf("checkpoint %d channel %s: %v", i, ch, err)
			}
			wb, _ := json.Marshal(w)
			gb, _ := json.Marshal(got)
			if !bytes.Equal(wb, gb) {
				t.Fatalf("checkpoint %d channel %s: got %s, want %s", i, ch, gb, wb)
			}
		}
		if len(tup.PendingWrites) != 1 {
			t.Fatalf("checkpoint %d: %d pending writes", i, len(tup.PendingWrites))
		}
		if v, err := tup.PendingWrites[0].Value.Value(); err != nil || v != fmt.Sprintf("%s write %d", sentinel, i) {
			t.Fatalf("checkpoint %d: pending write %v, %v", i, v, err)
		}
	}
}

func mustNotContain(t *testing.T, what string, b []byte) {
	t.Helper()
	if i := bytes.Index(b, []byte(sentinel)); i >= 0 {
		t.Errorf("%s holds the sentinel in plaintext at byte %d", what, i)
	}
}

func readIf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// TestEncryptionNoPlaintext: values, list segments (appended deltas) and
// pending writes holding a sentinel are in neither the file, the log
// (copied before Close, as a crash would leave it), a backup nor an
// export; and everything reads back.
func TestEncryptionNoPlaintext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "enc.db")
	s := openKeys(t, path, testKey(1, 10))
	ids := writeCryptThread(t, s, "th", 0, 40)

	// The deltas keep working: the list grew by appended segments, not
	// by a keyframe a step, and the unchanged channel is stored once.
	if err := s.view(ctx, func(r reader) error {
		segs, fixed := 0, 0
		r.Scan(threadPath("th", bucketSegments), nil, nil, false, func(k, v []byte) error { segs++; return nil })
		r.Scan(threadPath("th", bucketBlobs), nil, nil, false, func(k, v []byte) error {
			if _, ch, _, _ := parseBlobKey(k); ch == "fixed" {
				fixed++
			}
			return nil
		})
		if segs == 0 || segs > 40/defaultDeltaFold+defaultDeltaFold+1 {
			t.Errorf("%d list segments for 40 appends: not stored as deltas", segs)
		}
		if fixed != 1 {
			t.Errorf("the unchanged channel is stored %d times, want once", fixed)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A crash now: the file and the log as they are.
	mustNotContain(t, "the file before Close", readIf(t, path))
	wal := readIf(t, path+"-wal")
	mustNotContain(t, "the -wal before Close", wal)

	bk := filepath.Join(dir, "backup.db")
	if err := s.BackupFile(ctx, bk); err != nil {
		t.Fatal(err)
	}
	mustNotContain(t, "the backup", readIf(t, bk))

	var exp bytes.Buffer
	if _, err := s.Export(ctx, &exp, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	mustNotContain(t, "the export", exp.Bytes())
	sc := bufio.NewScanner(bytes.NewReader(exp.Bytes()))
	sc.Buffer(nil, 1<<24)
	records := 0
	for sc.Scan() {
		var rec dumpRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue // the header
		}
		records++
		mustNotContain(t, "an export record's data", rec.Data)
	}
	if records == 0 {
		t.Fatal("the export holds no records")
	}
	checkCryptThread(t, s, "th", ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustNotContain(t, "the file after Close", readIf(t, path))

	s = openKeys(t, path, testKey(1, 10))
	defer s.Close()
	checkCryptThread(t, s, "th", ids)

	// The backup and an import of the export read with the key.
	b := openKeys(t, bk, testKey(1, 10))
	checkCryptThread(t, b, "th", ids)
	b.Close()
	imp := openKeys(t, filepath.Join(dir, "import.db"), testKey(1, 10))
	defer imp.Close()
	if _, err := imp.Import(ctx, bytes.NewReader(exp.Bytes()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, imp, "th", ids)
}

// TestEncryptionSharing: with random nonces equal values seal to different
// bytes; re-adding a stored version with the same value is still shared,
// not a version conflict, and a different value still is one.
func TestEncryptionSharing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openKeys(t, filepath.Join(t.TempDir(), "s.db"), testKey(1, 1))
	defer s.Close()
	cfg := Config{ThreadID: "t"}
	put := func(v any) error {
		cp := Checkpoint{ChannelValues: map[string]any{"c": v, "l": []any{"a", v}}, ChannelVersions: map[string]string{"c": "1", "l": "1"}}
		var err error
		cfg, err = s.Put(ctx, cfg, cp, Metadata{}, map[string]string{"c": "1", "l": "1"})
		return err
	}
	if err := put(sentinel); err != nil {
		t.Fatal(err)
	}
	if err := put(sentinel); err != nil {
		t.Fatalf("the same value at the same version: %v", err)
	}
	var vc *VersionConflictError
	if err := put("other"); !errors.As(err, &vc) {
		t.Fatalf("another value at a stored version: %v, want a VersionConflictError", err)
	}
}

// TestEncryptionKeyErrors: a missing key, a wrong key, a sealed record
// moved to another place and a damaged one each give their own error.
func TestEncryptionKeyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	s := openKeys(t, path, testKey(7, 1))
	ids := writeCryptThread(t, s, "th", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	get := func(s *Store, i int) error {
		_, err := s.GetTuple(ctx, Config{ThreadID: "th", CheckpointID: ids[i]})
		return err
	}
	wantKeyErr := func(what string, err error, missing bool) {
		t.Helper()
		var ke *KeyError
		if !errors.Is(err, ErrKey) || !errors.As(err, &ke) || ke.ID != 7 || ke.Missing != missing {
			t.Fatalf("%s: %v, want a *KeyError for key 7 (missing %v)", what, err, missing)
		}
		if !strings.Contains(err.Error(), "key 7") {
			t.Fatalf("%s: %q does not name the key", what, err)
		}
	}

	// Without keys: ids, metadata and versions still list; a sealed
	// value or pending write decodes to the *KeyError; nothing is
	// written back from such a value.
	s = openKeys(t, path)
	n := 0
	for tup, err := range s.List(ctx, ListOptions{ThreadID: "th", Filter: map[string]any{"step": 1}}) {
		if err != nil {
			t.Fatalf("List without keys: %v", err)
		}
		n++
		if tup.Checkpoint.ID != ids[1] || tup.Metadata["step"] != int64(1) {
			t.Fatalf("List without keys: %s %v", tup.Checkpoint.ID, tup.Metadata)
		}
		for ch, v := range tup.Checkpoint.ChannelValues {
			_, err := v.(Raw).Value()
			wantKeyErr("value of "+ch+" without keys", err, true)
		}
		_, err = tup.PendingWrites[0].Value.Value()
		wantKeyErr("pending write without keys", err, true)
		cp := tup.Checkpoint
		// Writing it back is refused, as is every write that stores a
		// value (crypt_keyless_test.go).
		_, err = s.Put(ctx, Config{ThreadID: "other"}, cp, Metadata{}, cp.ChannelVersions)
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "key ids 7") {
			t.Fatalf("Put of a locked value: %v, want ErrKey naming key 7", err)
		}
	}
	if n != 1 {
		t.Fatalf("List without keys found %d checkpoints, want 1", n)
	}
	info, err := s.Thread(ctx, "th")
	if err != nil || info.Checkpoints != 3 {
		t.Fatalf("Thread without keys: %+v, %v", info, err)
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Verify without keys: %+v, %v", rep, err)
	}
	s.Close()

	// A wrong key under the same id, and another key only.
	s = openKeys(t, path, testKey(7, 2))
	wantKeyErr("wrong key", get(s, 2), false)
	s.Close()
	s = openKeys(t, path, testKey(8, 1))
	wantKeyErr("other key", get(s, 0), true)
	s.Close()

	s = openKeys(t, path, testKey(7, 1))
	defer s.Close()
	// A sealed value moved to another version's place does not open.
	if err := s.write(ctx, func(w writer) error {
		tup, err := s.loadTuple(w, "th", "", nil, nil)
		if err != nil {
			return err
		}
		p := threadPath("th", bucketBlobs)
		ver0 := ""
		w.Scan(p, nil, nil, false, func(k, v []byte) error {
			if _, ch, ver, _ := parseBlobKey(k); ch == "note" && ver != tup.Checkpoint.ChannelVersions["note"] {
				ver0 = ver
				return errStop
			}
			return nil
		})
		// Summed again for its new key (sumUnder), or the sum over the key
		// would catch the move first (ErrCorrupt): the seal must too.
		to := blobKey("", "note", tup.Checkpoint.ChannelVersions["note"])
		other := sumUnder(seedOf("th"), to, w.Get(p, blobKey("", "note", ver0)))
		return w.Put(p, to, other)
	}); err != nil {
		t.Fatal(err)
	}
	wantKeyErr("moved record", get(s, 2), false)

	// A flipped bit is damage (the checksum), not a key problem.
	if err := s.write(ctx, func(w writer) error {
		tup, err := s.loadTuple(w, "th", "", &[idLen]byte{}, nil)
		if err == nil || tup != nil {
			return fmt.Errorf("loadTuple of a zero id: %v", err)
		}
		p := threadPath("th", bucketBlobs)
		k := blobKey("", "fixed", "")
		w.Scan(p, nil, nil, false, func(bk, _ []byte) error {
			if _, ch, _, _ := parseBlobKey(bk); ch == "fixed" {
				k = bytes.Clone(bk)
				return errStop
			}
			return nil
		})
		v := bytes.Clone(w.Get(p, k))
		v[len(v)/2] ^= 1
		return w.Put(p, k, v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := get(s, 0); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrKey) {
		t.Fatalf("flipped bit: %v, want ErrCorrupt only", err)
	}
}

// TestEncryptionRotateRekey: a file written plain, then under key 1, then
// under keys 2 and 1; Rekey; then only key 2 opens everything, and key 1
// alone opens nothing.
func TestEncryptionRotateRekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	s := openKeys(t, path)
	ids := writeCryptThread(t, s, "th", 0, 5)
	s.Close()
	s = openKeys(t, path, testKey(1, 1))
	ids = append(ids, writeCryptThread(t, s, "th", 5, 5)...)
	s.Close()
	s = openKeys(t, path, testKey(2, 2), testKey(1, 1))
	ids = append(ids, writeCryptThread(t, s, "th", 10, 5)...)
	if err := s.CopyThread(ctx, "th", "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, s, "th", ids)
	st, err := s.Rekey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resealed == 0 {
		t.Fatal("Rekey re-sealed nothing")
	}
	if st2, err := s.Rekey(ctx); err != nil || st2.Resealed != 0 {
		t.Fatalf("a second Rekey: %+v, %v; want nothing left to do", st2, err)
	}
	s.Close()

	s = openKeys(t, path, testKey(2, 2))
	checkCryptThread(t, s, "th", ids)
	// The copy's records were re-sealed for it (they name their thread).
	for _, id := range ids {
		if _, err := s.GetTuple(ctx, Config{ThreadID: "copy", CheckpointID: id}); err != nil {
			t.Fatalf("copy: %v", err)
		}
	}
	s.Close()

	s = openKeys(t, path, testKey(1, 1))
	defer s.Close()
	var ke *KeyError
	if _, err := s.GetTuple(ctx, Config{ThreadID: "th", CheckpointID: ids[0]}); !errors.As(err, &ke) || ke.ID != 2 {
		t.Fatalf("only the old key after Rekey: %v, want a *KeyError for key 2", err)
	}
}

// TestRekeyWithWriters: writers go on while Rekey runs, and afterwards the
// new key alone opens what was written before and during it.
func TestRekeyWithWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	s := openKeys(t, path, testKey(1, 1))
	threads := []string{"a", "b", "c"}
	ids := map[string][]string{}
	for _, th := range threads {
		ids[th] = writeCryptThread(t, s, th, 0, 20)
	}
	s.Close()
	s = openKeys(t, path, testKey(2, 2), testKey(1, 1))
	var wg sync.WaitGroup
	more := make([][]string, len(threads))
	for i, th := range threads {
		wg.Go(func() { more[i] = writeCryptThread(t, s, th, 20, 20) })
	}
	if _, err := s.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s.Close()
	s = openKeys(t, path, testKey(2, 2))
	defer s.Close()
	for i, th := range threads {
		checkCryptThread(t, s, th, append(ids[th], more[i]...))
	}
}
