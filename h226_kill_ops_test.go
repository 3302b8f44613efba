package ckpt

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// h226Modes are the durabilities and log settings of the H226 sweeps.
var h226Modes = []struct {
	name string
	opts Options
}{
	{"sync", Options{}},
	{"nosync", Options{Durability: NoSync}},
	{"async", Options{Durability: Async}},
	{"nowal", Options{NoWAL: true}},
	{"nowal-async", Options{NoWAL: true, Durability: Async}},
}

// TestH226KillChild is the child of TestH226WriteKilled: it opens the
// store at CKPT_H226_PATH in mode CKPT_H226_MODE, says "go", runs
// operation CKPT_H226_OP (the dump to import at CKPT_H226_DUMP) and a
// Flush, says "A" (both returned nil) or "E <error>", and waits for its
// kill, never closing the store.
func TestH226KillChild(t *testing.T) {
	path := os.Getenv("CKPT_H226_PATH")
	if path == "" {
		t.Skip("the child of TestH226WriteKilled")
	}
	dump, err := os.ReadFile(os.Getenv("CKPT_H226_DUMP"))
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	var opts Options
	for _, m := range h226Modes {
		if m.name == os.Getenv("CKPT_H226_MODE") {
			opts = m.opts
		}
	}
	s, err := Open(path, opts)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	for _, op := range h226Ops(dump) {
		if op.name != os.Getenv("CKPT_H226_OP") {
			continue
		}
		fmt.Println("go")
		out, err := op.run(h226bg, s)
		if err == nil {
			err = s.Flush(h226bg)
		}
		if err != nil {
			fmt.Println("E", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("A %v\n", out)
		}
	}
	select {}
}

// Every write operation, in every durability, with and without the log,
// in a child process killed (SIGKILL) at a random moment of it: the
// reopened store verifies clean and holds the operation whole or not at
// all; whole if the child was told nil (Sync, and NoSync and Async after
// their Flush, which fsyncs). CKPT_H226_KILL_ROUNDS sets the kills per
// operation and mode (default 1).
func TestH226WriteKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	t.Parallel()
	rounds := 1
	if v, err := fmt.Sscan(os.Getenv("CKPT_H226_KILL_ROUNDS"), &rounds); v != 1 || err != nil {
		rounds = 1
	}
	base, dump := h226Base(t)
	dumpPath := base + ".dump"
	if err := os.WriteFile(dumpPath, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	before := h226Reopened(t, copyStore(t, base), Options{})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	acks, whole, none := 0, 0, 0
	wants := h226Wants(t, base, dump)
	for _, op := range h226Ops(dump) {
		for _, m := range h226Modes {
			want := wants[op.name] // the dump an uncancelled call leaves
			for range rounds {
				path := copyStore(t, base)
				cmd := exec.Command(testchild.Binary(), "-test.run=^TestH226KillChild$")
				cmd.Env = append(os.Environ(), "CKPT_H226_PATH="+path, "CKPT_H226_DUMP="+dumpPath, "CKPT_H226_OP="+op.name, "CKPT_H226_MODE="+m.name,
					"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				r := bufio.NewReader(out)
				if line, err := r.ReadString('\n'); err != nil || line != "go\n" {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("%s/%s: child said %q (%v): %s", op.name, m.name, line, err, stderr.String())
				}
				// Read before Wait, which closes the pipe.
				said := make(chan string, 1)
				go func() { line, _ := r.ReadString('\n'); said <- line }()
				time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond)
				_ = cmd.Process.Kill()
				rest := <-said
				_ = cmd.Wait()
				acked := strings.HasPrefix(rest, "A ")
				if strings.HasPrefix(rest, "E ") {
					t.Fatalf("%s/%s: the child's call failed: %s", op.name, m.name, rest)
				}
				got := h226Reopened(t, path, m.opts)
				isWhole := op.exact && got == want
				if !op.exact && got != before {
					// A Save: it is there, readable, if anything changed.
					id := strings.TrimSpace(strings.TrimPrefix(rest, "A "))
					isWhole = true
					if acked {
						s, err := Open(path, m.opts)
						if err != nil {
							t.Fatal(err)
						}
						err = op.check(s, id)
						_ = s.Close()
						if err != nil {
							t.Fatalf("%s/%s: acknowledged save %s: %v", op.name, m.name, id, err)
						}
					}
				}
				switch {
				case acked && !isWhole:
					t.Fatalf("%s/%s: acknowledged, killed after, and the reopened store is not what the operation leaves:\n%s", op.name, m.name, h226Diff(want, got))
				case !isWhole && got != before:
					t.Fatalf("%s/%s: killed mid-way, and the store holds part of the operation:\n%s", op.name, m.name, h226Diff(before, got))
				}
				if acked {
					acks++
				}
				if isWhole {
					whole++
				} else {
					none++
				}
			}
		}
	}
	t.Logf("%d kills: %d acknowledged, %d whole, %d none", rounds*len(h226Modes)*len(h226Ops(dump)), acks, whole, none)
}
