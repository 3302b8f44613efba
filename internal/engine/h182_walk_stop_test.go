package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestWalksStopAtTheFirstKeyOutOfPlace: one key of a leaf page damaged
// out of its place (lowered below the keys before it, raised above the
// keys after it, or made equal to its neighbour), in a bucket of values
// and in a bucket of nested buckets. A walk (Scan, forward and back;
// Buckets) must hand its callback only keys a walk of the sound file hands
// it, in the same order, then end with ErrCorrupt: a prefix of the sound
// walk. Scan and Buckets passed the damaged key over and went on,
// reporting ErrCorrupt only at their end, so the callback saw the keys
// after the damaged one (an iterator over the threads yielded them, in
// the place of the one damaged) before it was told; and a raised key was
// handed over itself, as the key before those it was out of order with.
func TestWalksStopAtTheFirstKeyOutOfPlace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "walk.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	key := func(i int) []byte { return fmt.Appendf(nil, "k%03d", i) }
	err = db.Update(func(tx *bolt.Tx) error {
		vals, err := tx.CreateBucket([]byte("vals"))
		if err != nil {
			return err
		}
		nest, err := tx.CreateBucket([]byte("nest"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := vals.Put(key(i), []byte("v")); err != nil {
				return err
			}
			// Nested buckets' names in a page of their own: a value
			// between them, as a bucket of threads holds none but a
			// walk passes over.
			if i%10 == 5 {
				if err := nest.Put(append(key(i), '='), []byte("v")); err != nil {
					return err
				}
			}
			if _, err := nest.CreateBucket(append(key(i), '/')); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	type walk struct {
		name string
		run  func(v *BoltView, fn func(k []byte) error) error
	}
	walks := []walk{
		{"Scan vals forward", func(v *BoltView, fn func(k []byte) error) error {
			return v.Scan(Path{[]byte("vals")}, nil, nil, false, func(k, _ []byte) error { return fn(k) })
		}},
		{"Scan vals back", func(v *BoltView, fn func(k []byte) error) error {
			return v.Scan(Path{[]byte("vals")}, nil, nil, true, func(k, _ []byte) error { return fn(k) })
		}},
		{"Scan vals forward from k010", func(v *BoltView, fn func(k []byte) error) error {
			return v.Scan(Path{[]byte("vals")}, []byte("k"), []byte("k010"), false, func(k, _ []byte) error { return fn(k) })
		}},
		{"Scan vals back from k110", func(v *BoltView, fn func(k []byte) error) error {
			return v.Scan(Path{[]byte("vals")}, []byte("k"), []byte("k110"), true, func(k, _ []byte) error { return fn(k) })
		}},
		{"Buckets nest", func(v *BoltView, fn func(k []byte) error) error {
			return v.Buckets(Path{[]byte("nest")}, nil, fn)
		}},
		{"Buckets nest after k010/", func(v *BoltView, fn func(k []byte) error) error {
			return v.Buckets(Path{[]byte("nest")}, []byte("k010/"), fn)
		}},
	}
	// What each walk yields on the sound file.
	collect := func(data []byte, w walk, writable bool) (got [][]byte, err error) {
		p := filepath.Join(t.TempDir(), "w.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: !writable})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Begin(writable)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		err = w.run(NewBoltView(tx), func(k []byte) error {
			got = append(got, bytes.Clone(k))
			return nil
		})
		return got, err
	}
	want := map[string][][]byte{}
	for _, w := range walks {
		got, err := collect(clean, w, false)
		if err != nil || len(got) < n/2 {
			t.Fatalf("%s on the sound file: %d keys, %v", w.name, len(got), err)
		}
		want[w.name] = got
	}

	for _, d := range []struct {
		what string
		from string // the key damaged, in both buckets (nest's with its '/')
		to   string
	}{
		{"lowered below the keys before it", "k070", "k06 "},
		{"raised above the keys after it", "k070", "k170"},
		{"equal to the key before it", "k070", "k069"},
		{"lowered, near the start", "k020", "k01 "},
		{"raised, near the end", "k100", "k199"},
	} {
		data := bytes.Clone(clean)
		if c := editAll(data, []byte(d.from), []byte(d.to)); c != 2 {
			t.Fatalf("%s: key %q found %d times in the file, want 2 (vals, nest)", d.what, d.from, c)
		}
		for _, w := range walks {
			for _, writable := range []bool{false, true} {
				got, err := collect(data, w, writable)
				sound := want[w.name]
				prefix := len(got) <= len(sound) && slices.EqualFunc(got, sound[:len(got)], bytes.Equal)
				if !prefix || !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s, key %s %s (%q), writable %v: the walk yielded %d keys (%s), %v; "+
						"want a prefix of the sound walk's %d keys, then ErrCorrupt",
						w.name, d.from, d.what, d.to, writable, len(got), firstDiff(got, sound), err, len(sound))
				}
			}
		}
	}
}

// editAll replaces every from in data with to (the same length) and
// returns how many it replaced.
func editAll(data, from, to []byte) int {
	n := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], from)
		if j < 0 {
			return n
		}
		copy(data[i+j:], to)
		i += j + len(from)
		n++
	}
}

// firstDiff describes where got leaves the sound walk's keys.
func firstDiff(got, sound [][]byte) string {
	for i := range got {
		if i >= len(sound) || !bytes.Equal(got[i], sound[i]) {
			s := "past its end"
			if i < len(sound) {
				s = fmt.Sprintf("%q", sound[i])
			}
			return fmt.Sprintf("key %d %q where the sound walk has %s", i, got[i], s)
		}
	}
	return "all in the sound walk's order"
}
