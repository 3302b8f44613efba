//go:build unix

package main

// The import's look ahead at a dump's threads (importlook.go) must hand
// the import every byte of the dump: a regular file put back where it
// was, a pipe's peeked first MiB given again. A hunt at the sizes round
// the peek (0, 1 MiB and one either side, a line across the boundary, a
// line longer than the peek), through a regular file read from an
// offset, an os.Pipe, a FIFO and a plain reader.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h195Dump is a dump-like body of exactly n bytes: lines naming threads,
// each as long as rng says, the last one cut at n (no newline).
func h195Dump(rng *rand.Rand, n int, long bool) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		pad := rng.IntN(3000)
		if long && i == 1 {
			pad = 3 << 20 // longer than the peek
		}
		fmt.Fprintf(&b, `{"kind":"checkpoint","thread":"t%d","v":"%s"}`+"\n", i%7, strings.Repeat("x", pad))
	}
	return b.Bytes()[:n]
}

func TestH195ImportPeekGivesEveryByte(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(195, 2))
	var sizes []int
	for _, n := range []int{0, 1, importPeek - 1, importPeek, importPeek + 1, 2*importPeek + 3} {
		sizes = append(sizes, n)
	}
	for range 6 {
		sizes = append(sizes, importPeek-4000+rng.IntN(8000))
	}
	kinds := []string{"file", "pipe", "fifo", "reader"}
	checked := 0
	for _, n := range sizes {
		for _, long := range []bool{false, true} {
			body := h195Dump(rng, n, long)
			for _, kind := range kinds {
				got, threads := h195ReadThrough(t, kind, body)
				if !bytes.Equal(got, body) {
					t.Errorf("%s, %d bytes (long line %v): the import reads %d bytes after the look ahead, differing from the dump", kind, n, long, len(got))
				}
				if n > 5000 && len(threads) == 0 && !long {
					t.Errorf("%s, %d bytes: no thread found ahead", kind, n)
				}
				checked++
			}
		}
	}
	t.Logf("%d reads through the look ahead, each byte-identical to the dump", checked)
}

// h195ReadThrough gives body to dumpThreadsAhead as kind says and returns
// what the import then reads.
func h195ReadThrough(t *testing.T, kind string, body []byte) ([]byte, []string) {
	t.Helper()
	dir := t.TempDir()
	var in io.Reader
	done := make(chan error, 1)
	done <- nil
	switch kind {
	case "file":
		// Read from an offset: what stands before it is not the dump's.
		p := filepath.Join(dir, "d.jsonl")
		if err := os.WriteFile(p, append([]byte("skipped\n"), body...), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Seek(8, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		in = f
	case "pipe", "fifo":
		var r, w *os.File
		if kind == "pipe" {
			var err error
			if r, w, err = os.Pipe(); err != nil {
				t.Fatal(err)
			}
		} else {
			p := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			opened := make(chan *os.File)
			go func() {
				w, _ := os.OpenFile(p, os.O_WRONLY, 0)
				opened <- w
			}()
			var err error
			if r, err = os.Open(p); err != nil {
				t.Fatal(err)
			}
			w = <-opened
		}
		t.Cleanup(func() { r.Close() })
		<-done
		go func() {
			_, err := w.Write(body)
			w.Close()
			done <- err
		}()
		in = r
	default:
		in = bytes.NewReader(body)
	}
	threads, err := dumpThreadsAhead(&in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return got, threads
}

// TestH195ImportThroughPipeKeepsAll: a real dump of several MiB (threads
// whose lines cross the peek's boundary) imported into an existing store
// from a pipe, from a FIFO named as DUMP and from a regular file on
// stdin: the store exports again byte for byte as the dump, and the
// summary counts what the dump holds.
func TestH195ImportThroughPipeKeepsAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := ckpt.Open(src, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(195, 3))
	ctx := context.Background()
	for i := range 40 {
		big := strings.Repeat(fmt.Sprint(i%10), 20000+rng.IntN(200000))
		if _, err := s.Save(ctx, fmt.Sprintf("th%02d", i%13), map[string]any{"v": big, "i": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ok(t, dir, "export", "src.db", "-o", "dump.jsonl")
	dump, err := os.ReadFile(filepath.Join(dir, "dump.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dump) < 3*importPeek {
		t.Fatalf("the dump is %d bytes, want several MiB", len(dump))
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"pipe", "fifo", "stdin-file"} {
		db := filepath.Join(dir, how+".db")
		e, err := ckpt.Open(db, ckpt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		var r result
		switch how {
		case "pipe":
			r = runIn(t, dir, string(dump), "import", how+".db")
		case "fifo":
			go func() {
				w, err := os.OpenFile(filepath.Join(dir, "fifo"), os.O_WRONLY, 0)
				if err == nil {
					_, _ = w.Write(dump)
					_ = w.Close()
				}
			}()
			r = runIn(t, dir, "", "import", how+".db", "fifo")
		default:
			f, err := os.Open(filepath.Join(dir, "dump.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binPath, "import", how+".db")
			cmd.Dir, cmd.Stdin = dir, f
			out, err := cmd.CombinedOutput()
			f.Close()
			r = result{args: cmd.Args, stdout: string(out)}
			if err != nil {
				r.code = 1
			}
		}
		if r.code != 0 || !strings.Contains(r.stdout, "imported into "+how+".db: 13 threads, 40 checkpoints") {
			t.Errorf("%s: import:\n%s", how, r)
			continue
		}
		ok(t, dir, "export", how+".db", "-o", how+".jsonl")
		again, err := os.ReadFile(filepath.Join(dir, how+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, dump) {
			t.Errorf("%s: the imported store exports %d bytes, the dump was %d", how, len(again), len(dump))
		}
	}
}
