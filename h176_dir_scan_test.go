package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// h176DirFile writes, to a closed file, 120 threads of one checkpoint
// each (enough that the directory of threads has pages of its own) and,
// in thread "t060", one checkpoint in each of namespaces s1, s2 and s3.
func h176DirFile(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		if _, err := s.Save(ctx, fmt.Sprintf("t%03d", i), map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"s1", "s2", "s3"} {
		vers := map[string]string{"text": "1"}
		if _, err := s.Put(ctx, Config{ThreadID: "t060", CheckpointNS: ns}, Checkpoint{
			ChannelValues: map[string]any{"text": ns}, ChannelVersions: vers,
		}, Metadata{"ns": ns}, vers); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// h176DirKeyLikeItsPrevious makes the directory's key for (thread, ns)
// in its leaf page the key before it (a damaged byte: the directory's
// keys have no sum), which sorts it out of place.
func h176DirKeyLikeItsPrevious(t *testing.T, path, thread, ns string) {
	t.Helper()
	key := nsDirKey(thread, ns)
	var prev []byte
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketDir)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("dir/ is missing or inline")
		}
		c := b.Cursor()
		k, _ := c.Seek(key)
		if !bytes.Equal(k, key) {
			return nil, fmt.Errorf("dir/ key %x not found", key)
		}
		p, _ := c.Prev()
		if len(p) != len(k) {
			return nil, fmt.Errorf("dir/ key %x before %x: want one of the same length", p, k)
		}
		prev = bytes.Clone(p)
		c.Next()
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[off:], prev)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestH176ExportWithANamespaceHiddenAndItsDirKeyOutOfOrder: namespace s2
// of a thread hidden whole (its keys gone from every bucket, as damage
// to their pages hides them) is what the directory of threads is for:
// Export of the thread says ErrCorrupt naming it. With the directory's
// key for s2 also damaged (made its neighbour's, out of place), the
// directory's walk passes over it and ends with ErrCorrupt, which
// Export's check (hiddenNamespaces) dropped: Export dumped the thread
// without s2 and no error, while Thread and List of it say ErrCorrupt.
func TestH176ExportWithANamespaceHiddenAndItsDirKeyOutOfOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h176DirFile(t)
	hideNamespace(t, path, "t060", "s2", "dropped")
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h176DirKeyLikeItsPrevious(t, path, "t060", "s2")
	for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
		s := openDamaged(t, path, opts, clean)
		if _, err := s.Thread(ctx, "t060"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: Thread = %v, want ErrCorrupt", opts.ReadOnly, err)
		}
		var dump bytes.Buffer
		sum, err := s.Export(ctx, &dump, ExportOptions{Threads: []string{"t060"}})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"t060"`) {
			t.Errorf("read-only %v: Export of the thread = %+v, %v, want ErrCorrupt naming it", opts.ReadOnly, sum, err)
		}
		// The other threads' exports are whole.
		if _, err := s.Export(ctx, io.Discard, ExportOptions{Threads: []string{"t059", "t061"}}); err != nil {
			t.Errorf("read-only %v: Export of the threads beside it = %v", opts.ReadOnly, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestH176GetTupleWithANamespaceHiddenAndADirKeyRaised: namespace s2 of a
// thread hidden whole, and the directory's key for s1, the one before
// s2's, raised by a damaged byte to s3's (out of place, above s2's). A
// read of s2 finds no checkpoint and looks in the directory (absent): its
// seek lands on the raised key, whose successor sorts below it, and the
// walk ends with ErrCorrupt before it yields a key. absent dropped that
// error and, having found neither the namespace's key nor the thread's,
// said ErrNotFound: a namespace written read as never written, as if the
// directory did not list it.
func TestH176GetTupleWithANamespaceHiddenAndADirKeyRaised(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h176DirFile(t)
	hideNamespace(t, path, "t060", "s2", "dropped")
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketDir)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("dir/ is missing or inline")
		}
		key := nsDirKey("t060", "s1")
		k, _ := b.Cursor().Seek(key)
		if !bytes.Equal(k, key) {
			return nil, fmt.Errorf("dir/ key %x not found", key)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clean := bytes.Clone(data)
	copy(data[off:], nsDirKey("t060", "s3"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
		s := openDamaged(t, path, opts, clean)
		reads := map[string]func() error{
			"GetTuple": func() error {
				_, err := s.GetTuple(ctx, Config{ThreadID: "t060", CheckpointNS: "s2"})
				return err
			},
			"Reader.GetTuple": func() error {
				_, err := s.NewReader().GetTuple(ctx, Config{ThreadID: "t060", CheckpointNS: "s2"})
				return err
			},
		}
		for name, read := range reads {
			if err := read(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("read-only %v: %s of the hidden namespace = %v, want ErrCorrupt", opts.ReadOnly, name, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestH176CopyThreadHiddenWithADirKeyRaised: every namespace of a thread
// hidden whole (its bucket found, nothing in it), and the directory's key
// for the thread's root namespace raised by a damaged byte above the keys
// after it. CopyThread from it, or onto it, finds no checkpoint and looks
// in the directory for a namespace listed (historyHidden,
// listedNamespace): the walk meets the raised key (a seek that lands past
// its key, or keys out of order after it) and ends with ErrCorrupt, which
// was dropped: the copy from it said ErrNotFound, a thread written read
// as never written. (A List of the thread says ErrCorrupt, its own checks
// returning the walk's error; so does the copy onto it, refused by a
// later walk of the directory, dropThread's.)
func TestH176CopyThreadHiddenWithADirKeyRaised(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h176DirFile(t)
	for _, ns := range []string{"", "s1", "s2", "s3"} {
		hideNamespace(t, path, "t060", ns, "dropped")
	}
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketDir)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("dir/ is missing or inline")
		}
		key := nsDirKey("t060", "")
		k, _ := b.Cursor().Seek(key)
		if !bytes.Equal(k, key) {
			return nil, fmt.Errorf("dir/ key %x not found", key)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The namespace's length, 0, becomes 0x00ff: above s1's key (0x0002).
	clean := bytes.Clone(data)
	data[off+len(dirKey("t060"))+1] = 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openDamaged(t, path, Options{NoWAL: true}, clean)
	defer s.Close()
	for _, err := range s.List(ctx, ListOptions{ThreadID: "t060"}) {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("List of the hidden thread: %v, want ErrCorrupt", err)
		}
		break
	}
	if err := s.CopyThread(ctx, "t060", "copy", CopyOptions{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"t060"`) {
		t.Errorf("CopyThread from the hidden thread: %v, want ErrCorrupt naming it", err)
	}
	if err := s.CopyThread(ctx, "t059", "t060", CopyOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("CopyThread onto the hidden thread: %v, want ErrCorrupt", err)
	}
}
