package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// Environment of the fault sweep: its seed and how many files it damages
// (defaults below), to run a longer sweep or repeat one.
const (
	sweepSeedEnv = "CKPT_SWEEP_SEED"
	sweepRunsEnv = "CKPT_SWEEP_RUNS"
)

// TestFaultSweepUnderRace flips one byte at a random offset (anywhere, in
// a page header, or in a page's elements) of a closed store (buildDamageBase's: 5 threads of 12 checkpoints, values on
// overflow pages, freed pages), a file per offset, and has a child run
// every path that reads the file on it: Open read-write (half of them
// NoWAL) and read-only, Verify, Latest and List of every checkpoint,
// BackupFile, Export, Compact, Close, and RecoverLog. The child is this
// test binary: under -race, the runtime's pointer checks (checkptr) are
// on, which make some misreads of a damaged page a fatal error where a
// plain build reads on (TestDamagedFileNeverPanics runs a plain child).
// A child that dies (a panic, a fatal error), runs over its time (a
// hang), fails to open with anything but ErrCorrupt, or reads a value
// other than the one saved without an error, is a finding.
func TestFaultSweepUnderRace(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes")
	}
	seed, runs := uint64(22), 24
	if v, err := strconv.ParseUint(os.Getenv(sweepSeedEnv), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv(sweepRunsEnv)); err == nil {
		runs = v
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	buildDamageBase(t, base)
	orig, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	// The child on the sound file: it reads every checkpoint, twice (read-write and read-only), and
	// compares them all with what was saved.
	out, _, err := sweepRun(base, false)
	if err != nil || strings.Contains(out, "BAD") || strings.Count(out, "listed 60\n") != 2 || !strings.Contains(out, "step done") {
		t.Fatalf("the sweep's child on the undamaged file: %v\n%s", err, out)
	}
	rng := rand.New(rand.NewPCG(seed, 4))
	type flip struct {
		i, off int
		xor    byte
	}
	flips := make(chan flip)
	var wg sync.WaitGroup
	for range 2 { // the machine's cores
		wg.Go(func() {
			for f := range flips {
				sweepOne(t, dir, orig, f.i, f.off, f.xor)
			}
		})
	}
	// A third of the offsets anywhere (most land in values, which the
	// record sums cover), a third in a page header, a third in a branch or
	// leaf page's element array: where bbolt's own structures are.
	const ps = 4096
	var elemPages []int
	for id := 2; (id+1)*ps <= len(orig); id++ {
		if f := orig[id*ps+8]; f == 0x01 || f == 0x02 {
			elemPages = append(elemPages, id)
		}
	}
	for i := range runs {
		off := rng.IntN(len(orig))
		switch i % 3 {
		case 1:
			off = rng.IntN(len(orig)/ps)*ps + rng.IntN(16)
		case 2:
			id := elemPages[rng.IntN(len(elemPages))]
			count := int(orig[id*ps+10]) | int(orig[id*ps+11])<<8
			off = id*ps + 16 + rng.IntN(max(1, min(count*16, ps-16)))
		}
		flips <- flip{i, off, byte(1 + rng.IntN(255))}
	}
	close(flips)
	wg.Wait()
	t.Logf("seed %d: %d files of %d bytes, one byte flipped in each", seed, runs, len(orig))
}

// sweepOne writes orig with byte off xor'ed with x and runs the sweep
// child on it, reporting (t.Errorf: it runs on a worker) what it finds.
func sweepOne(t *testing.T, dir string, orig []byte, i, off int, x byte) {
	data := bytes.Clone(orig)
	data[off] ^= x
	path := filepath.Join(dir, fmt.Sprintf("sweep-%d.db", i))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Error(err)
		return
	}
	what := fmt.Sprintf("file %d: page %d byte %d ^%#x", i, off/4096, off%4096, x)
	if i%2 == 1 {
		what += ", NoWAL"
	}
	out, stderr, err := sweepRun(path, i%2 == 1)
	last := ""
	for line := range strings.Lines(out) {
		if s, ok := strings.CutPrefix(line, "step "); ok {
			last = strings.TrimSpace(s)
		}
	}
	switch {
	case err != nil:
		t.Errorf("%s: the child failed at step %s: %v\n%s", what, last, err, firstLines(stderr, 30))
	case strings.Contains(out, "BAD"):
		t.Errorf("%s:\n%s", what, out)
	default:
		for _, p := range []string{path, path + "-wal", path + ".backup"} {
			_ = os.Remove(p)
		}
	}
}

// sweepRun runs the sweep child on path (NoWAL if noWAL) and returns its
// output and its stderr. An error is a child that died (a panic, a
// fatal error) or ran over 2 minutes (a hang).
func sweepRun(path string, noWAL bool) (out, stderrOut string, err error) {
	c, cancel := context.WithTimeout(ctx, 2*time.Minute) // a hang's detector
	defer cancel()
	cmd := exec.CommandContext(c, os.Args[0], "-test.run=^$")
	env := []string{fileChildEnv + "=sweep", crashFileEnv + "=" + path}
	if noWAL {
		env = append(env, "CKPT_NOWAL=1")
	}
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if c.Err() != nil {
		err = fmt.Errorf("ran over 2 minutes: %w", err)
	}
	return stdout.String(), stderr.String(), err
}

// sweepChild runs every reading path on the damaged file at path (see
// TestFaultSweepUnderRace), printing each step, and BAD for an Open that
// fails other than with ErrCorrupt or a value read without an error that
// is not the one saved.
func sweepChild(path string) int {
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	noWAL := os.Getenv("CKPT_NOWAL") != ""
	for _, ro := range []bool{false, true} {
		fmt.Println("step open, read-only", ro)
		s, err := ckpt.Open(path, ckpt.Options{ReadOnly: ro, NoWAL: noWAL, LockTimeout: 5 * time.Second})
		if err != nil {
			if !errors.Is(err, ckpt.ErrCorrupt) {
				fmt.Println("BAD open:", err)
			}
			continue
		}
		fmt.Println("step verify")
		_, _ = s.Verify(c, ckpt.VerifyOptions{})
		fmt.Println("step latest")
		for th := range 5 {
			if snap, err := s.Latest(c, fmt.Sprintf("thread-%d", th)); err == nil {
				sweepCompare(fmt.Sprintf("Latest of thread-%d", th), th, snap.Metadata, snap.Decode)
			}
		}
		fmt.Println("step list")
		listed := 0
		for tp, err := range s.List(c, ckpt.ListOptions{}) {
			if err != nil {
				break
			}
			listed++
			var th int
			if _, err := fmt.Sscanf(tp.Config.ThreadID, "thread-%d", &th); err != nil || th > 4 {
				fmt.Printf("BAD List: a checkpoint of thread %q\n", tp.Config.ThreadID)
				continue
			}
			sweepCompare("List: checkpoint "+tp.Config.CheckpointID, th, tp.Metadata, tp.Decode)
		}
		fmt.Println("listed", listed)
		fmt.Println("step backup")
		_ = s.BackupFile(c, path+".backup")
		fmt.Println("step export")
		_, _ = s.Export(c, io.Discard, ckpt.ExportOptions{})
		if !ro {
			fmt.Println("step compact")
			_, _ = s.Compact(c, nil)
		}
		fmt.Println("step close")
		_ = s.Close()
	}
	fmt.Println("step recover")
	_, _ = ckpt.RecoverLog(path, ckpt.Options{LockTimeout: 5 * time.Second})
	fmt.Println("step done")
	return 0
}

// sweepCompare prints BAD if a checkpoint of thread th read without an
// error (its metadata, and decode for its channels) is not what
// buildDamageBase saved at its step. A channel that fails to decode is
// damage found, not a wrong value.
func sweepCompare(what string, th int, meta ckpt.Metadata, decode func(string, any) error) {
	stepV, ok := meta["step"].(int64)
	if !ok || stepV < 0 || stepV > 11 {
		fmt.Printf("BAD %s: metadata %v\n", what, meta)
		return
	}
	step := int(stepV)
	if !reflect.DeepEqual(meta, normalizeMeta(crashMeta(th, step))) {
		fmt.Printf("BAD %s: metadata %v, saved %v\n", what, meta, crashMeta(th, step))
	}
	want := crashState(th, step)
	var msgs []crashMsg
	var turn int
	var context, big string
	if decode("messages", &msgs) == nil && !reflect.DeepEqual(msgs, want["messages"]) {
		fmt.Printf("BAD %s: messages differ from those saved\n", what)
	}
	if decode("turn_count", &turn) == nil && turn != step+1 {
		fmt.Printf("BAD %s: turn_count %d, saved %d\n", what, turn, step+1)
	}
	if decode("context", &context) == nil && context != want["context"] {
		fmt.Printf("BAD %s: context differs from the one saved\n", what)
	}
	if step%4 == 0 {
		if decode("big", &big) == nil && big != strings.Repeat("x", 64<<10)+strconv.Itoa(step) {
			fmt.Printf("BAD %s: big differs from the one saved\n", what)
		}
	}
}
