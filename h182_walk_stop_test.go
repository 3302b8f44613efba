package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestH182ThreadsStopAtANameOutOfPlace: one thread's name (its bucket's
// key in threads/; the directory and the index keep theirs) damaged out
// of its place, lowered below the names before it or raised above those
// after it. Threads must yield only threads a sound store yields, in its
// order, then ErrCorrupt: the walk of the names passed the damaged one
// over and went on, so Threads yielded thread-11 to thread-32 where the
// sound store yields thread-10, and said ErrCorrupt only after them. A
// read-only store reads the damaged file; a read-write one meets the
// damage under it (a read-write Open refuses the page: openDamaged).
func TestH182ThreadsStopAtANameOutOfPlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := s.Put(ctx, Config{ThreadID: fmt.Sprintf("thread-%02d", i)}, Checkpoint{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var sound []string
	for info, err := range s.Threads(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		sound = append(sound, info.ThreadID)
	}
	if len(sound) != n {
		t.Fatalf("the sound store lists %d threads, want %d", len(sound), n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ what, to string }{
		{"lowered below the names before it", "thread-0 "},
		{"raised above the names after it", "thread-90"},
	} {
		for _, ro := range []bool{true, false} {
			data := bytes.Clone(clean)
			name := []byte("thread-10")
			// The bucket's key only: in the directory and the index the
			// name follows its length (len16). Every copy: a copy in a
			// page freed since (the applier wrote the threads' page more
			// than once, as a loaded run may) is not read, so editing it
			// too changes nothing.
			if editEach(data, name, func(i int) bool {
				if i >= 2 && bytes.Equal(data[i-2:i], []byte{0, byte(len(name))}) {
					return false
				}
				copy(data[i:], d.to)
				return true
			}) == 0 {
				t.Fatalf("thread-10's bucket name not found in the file")
			}
			p := filepath.Join(dir, fmt.Sprintf("d-%v-%d.db", ro, len(d.what)))
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ds := openDamaged(t, p, Options{ReadOnly: ro}, clean)
			var got []string
			var last error
			for info, err := range ds.Threads(ctx) {
				if last != nil {
					t.Errorf("thread-10 %s, ReadOnly %v: Threads yielded %q after its error", d.what, ro, info.ThreadID)
					break
				}
				if err != nil {
					last = err
					continue
				}
				got = append(got, info.ThreadID)
			}
			if len(got) > len(sound) || !slices.Equal(got, sound[:len(got)]) || !errors.Is(last, ErrCorrupt) {
				t.Errorf("thread-10 %s, ReadOnly %v: Threads yielded %q, then %v; want a prefix of the sound store's threads, then ErrCorrupt",
					d.what, ro, got, last)
			}
			if err := ds.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
		}
	}
}
