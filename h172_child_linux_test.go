//go:build linux

package ckpt_test

// The workload of h172_strace_linux_test.go: a child process that opens a
// store and writes with several goroutines (Sync, NoSync, Async with
// Flush, pending writes), and in "maint" mode runs Compact, GC, BackupFile
// and Export into an Import and an ImportFile beside them, then closes. It reports every
// call into a file the parent made and handed it as fd 3, mapped shared:
// the report costs no system call, so a fault strace injects into write or
// pwrite64 never hits the report instead of the store, and what a kill -9
// leaves of it is all the calls that returned before the kill.
//
// Lines (n is a global sequence number: a line's n is taken when the call
// begins, for B, or when it returned, for the rest):
//
//	B n thread i             a write of step i of thread begins
//	A n thread i id          it returned nil (Async: queued)
//	E n thread i err         it returned err
//	WA n thread i / WE ...   its pending write returned nil / err
//	F n thread i / FE ...    a Flush after Async step i returned nil / err
//	M n op k begin|ok|err    maintenance call op number k
//	O n ok|err / C n ok|err  Open, Close

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

const (
	h172ModeEnv  = "CKPT_H172_MODE"  // write | maint
	h172StepsEnv = "CKPT_H172_STEPS" // steps per writer
	h172WaitEnv  = "CKPT_H172_WAIT"  // print "ready" once open, wait for a line on stdin
	h172RepSize  = 4 << 20
)

// h172Report appends lines to the shared mapping of fd 3.
type h172Report struct {
	mu  sync.Mutex
	buf []byte
	off int
	seq atomic.Int64
}

func (r *h172Report) line(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A joined error's lines on one line.
	l := strings.ReplaceAll(fmt.Sprintf(f, a...), "\n", " | ") + "\n"
	if r.off+len(l) <= len(r.buf) {
		r.off += copy(r.buf[r.off:], l)
	}
}

func (r *h172Report) next() int64 { return r.seq.Add(1) }

// h172State is step i's state of thread th: a value the reader checks
// exactly, and large enough now and then to take a page of its own.
func h172State(th string, i int) map[string]any {
	n := 40
	if i%5 == 3 {
		n = 3000
	}
	return map[string]any{"i": i, "v": crashText(uint64(len(th))*7919+uint64(th[len(th)-1])*131+uint64(i), n)}
}

func h172PW(th string, i int) string { return fmt.Sprintf("pw-%s-%d", th, i) }

func h172Child(path string) int {
	mode := os.Getenv(h172ModeEnv)
	steps, _ := strconv.Atoi(os.Getenv(h172StepsEnv))
	buf, err := syscall.Mmap(3, 0, h172RepSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h172: no report:", err)
		return 7
	}
	r := &h172Report{buf: buf}
	ctx := context.Background()
	s, err := ckpt.Open(path, h172Opts(mode))
	if err != nil {
		r.line("O %d err %v", r.next(), err)
		return 0
	}
	r.line("O %d ok", r.next())
	if mode == "verify" {
		return h172VerifyChild(ctx, s, r)
	}
	if mode == "remap" {
		return h172RemapChild(ctx, s, r)
	}
	if os.Getenv(h172WaitEnv) != "" {
		// strace attaches now (h172Attach).
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fmt.Fprintln(os.Stderr, "h172: no go-ahead:", err)
			return 7
		}
	}
	var wg sync.WaitGroup
	write := func(th string, d ckpt.Durability) {
		wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: d})
		from := 0
		if mode == "replay" {
			from = 100_000 // after the killed run's steps (at most 1,000: h172Crashed)
		}
		for i := from; i < from+steps; i++ {
			r.line("B %d %s %d", r.next(), th, i)
			id, err := s.Save(wctx, th, h172State(th, i), ckpt.Metadata{"i": i})
			if err != nil {
				r.line("E %d %s %d %v", r.next(), th, i, err)
				continue
			}
			r.line("A %d %s %d %s", r.next(), th, i, id)
			if d == ckpt.Async && i%4 == 3 {
				r.line("B %d %s %d", r.next(), th+"/flush", i)
				if err := s.Flush(ctx); err != nil {
					r.line("FE %d %s %d %v", r.next(), th, i, err)
				} else {
					r.line("F %d %s %d", r.next(), th, i)
				}
			}
			if d != ckpt.Async && i%3 == 1 {
				r.line("B %d %s %d", r.next(), th+"/pw", i)
				err := s.PutWrites(wctx, ckpt.Config{ThreadID: th, CheckpointID: id},
					[]ckpt.Write{{Channel: "w", Value: h172PW(th, i)}}, "t", "")
				if err != nil {
					r.line("WE %d %s %d %v", r.next(), th, i, err)
				} else {
					r.line("WA %d %s %d", r.next(), th, i)
				}
			}
		}
	}
	for k := range 3 {
		wg.Go(func() { write(fmt.Sprintf("s%d", k), ckpt.Sync) })
	}
	wg.Go(func() { write("n0", ckpt.NoSync) })
	wg.Go(func() { write("a0", ckpt.Async) })
	switch mode {
	case "maint":
		wg.Go(func() { h172Maint(ctx, s, path, r) })
	case "rekey", "rekey-nowal":
		wg.Go(func() { h246RekeyMaint(ctx, s, path, r) }) // h246_rekey_strace_linux_test.go
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		r.line("C %d err %v", r.next(), err)
	} else {
		r.line("C %d ok", r.next())
	}
	return 0
}

// maintStep returns the runner of round k's maintenance calls: it
// reports each call's begin, then its error or ok.
func (r *h172Report) maintStep(k int) func(op string, f func() error) {
	return func(op string, f func() error) {
		r.line("M %d %s %d begin", r.next(), op, k)
		if err := f(); err != nil {
			r.line("M %d %s %d err %v", r.next(), op, k, err)
			return
		}
		r.line("M %d %s %d ok", r.next(), op, k)
	}
}

// h172Maint runs each maintenance call in turn, twice, beside the writers.
// GC removes a thread a year old that it wrote first (old0, old1).
func h172Maint(ctx context.Context, s *ckpt.Store, path string, r *h172Report) {
	dir := filepath.Dir(path)
	for k := range 2 {
		do := r.maintStep(k)
		old := fmt.Sprintf("old%d", k)
		do("old", func() error {
			// GC dates a checkpoint by its id: one two years old.
			var id ulid.ULID
			_ = id.SetTime(ulid.Timestamp(time.Now().Add(-2 * h146Year)))
			_ = id.SetEntropy([]byte{1, 7, 2, 0, 0, 0, 0, 0, 0, byte(k)})
			cp := ckpt.Checkpoint{V: 4, ID: id.String(), ChannelValues: map[string]any{"v": old},
				ChannelVersions: map[string]string{"v": "1"}}
			_, err := s.Put(ctx, ckpt.Config{ThreadID: old}, cp, ckpt.Metadata{}, map[string]string{"v": "1"})
			return err
		})
		do("gc", func() error {
			_, err := s.GC(ctx, ckpt.Policy{ThreadTTL: h146Year})
			return err
		})
		do("compact", func() error {
			_, err := s.Compact(ctx, nil)
			return err
		})
		do("backup", func() error {
			return s.BackupFile(ctx, filepath.Join(dir, fmt.Sprintf("bk%d.db", k)))
		})
		do("import", func() error {
			var b bytes.Buffer
			if _, err := s.Export(ctx, &b, ckpt.ExportOptions{}); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			d, err := ckpt.Open(filepath.Join(dir, fmt.Sprintf("imp%d.db", k)), ckpt.Options{})
			if err != nil {
				return fmt.Errorf("import store: %w", err)
			}
			_, err = d.Import(ctx, &b, ckpt.ImportOptions{})
			if cerr := d.Close(); err == nil && cerr != nil && !errors.Is(cerr, ckpt.ErrDiskFull) {
				err = fmt.Errorf("import store close: %w", cerr)
			}
			return err
		})
		do("importfile", func() error {
			var b bytes.Buffer
			if _, err := s.Export(ctx, &b, ckpt.ExportOptions{}); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			_, err := ckpt.ImportFile(ctx, filepath.Join(dir, fmt.Sprintf("impf%d.db", k)), &b, ckpt.Options{}, ckpt.ImportOptions{})
			return err
		})
	}
}

// h172VerifyChild saves a few checkpoints, lets strace attach, runs Verify
// and reports "V n ok", "V n problems <problems>" or "V n err <err>".
func h172VerifyChild(ctx context.Context, s *ckpt.Store, r *h172Report) int {
	for i := range 4 {
		if _, err := s.Save(ctx, "v", h172State("v", i), ckpt.Metadata{"i": i}); err != nil {
			fmt.Fprintln(os.Stderr, "h172: save:", err)
			return 7
		}
	}
	if err := s.ApplyLog(ctx); err != nil { // Verify's checks read the file
		fmt.Fprintln(os.Stderr, "h172: apply:", err)
		return 7
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "h172: no go-ahead:", err)
		return 7
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	switch {
	case err != nil:
		r.line("V %d err %v", r.next(), err)
	case rep.OK():
		r.line("V %d ok", r.next())
	default:
		r.line("V %d problems %v", r.next(), rep.Problems)
	}
	_ = s.Close()
	return 0
}

// h172RemapChild compacts the store, lets strace attach, then writes 8
// MB (the file grows well past its size at the Compact), stopping at a
// write that fails ("E n r i err"), and reads: "L n ok|err" for Latest
// and "X n ok|err" for an Export.
func h172RemapChild(ctx context.Context, s *ckpt.Store, r *h172Report) int {
	if _, err := s.Save(ctx, "r", map[string]any{"v": "first"}, nil); err != nil {
		fmt.Fprintln(os.Stderr, "h172: save:", err)
		return 7
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, "h172: compact:", err)
		return 7
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "h172: no go-ahead:", err)
		return 7
	}
	for i := range 400 {
		_, err := s.Save(ctx, "r", map[string]any{"v": crashText(uint64(i), 20_000)}, nil)
		if err == nil {
			err = s.ApplyLog(ctx) // into bbolt's file now: its growth remaps
		}
		if err != nil {
			r.line("E %d r %d %v", r.next(), i, err)
			break
		}
	}
	if _, err := s.Latest(ctx, "r"); err != nil {
		r.line("L %d err %v", r.next(), err)
	} else {
		r.line("L %d ok", r.next())
	}
	if _, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{}); err != nil {
		r.line("X %d err %v", r.next(), err)
	} else {
		r.line("X %d ok", r.next())
	}
	_ = s.Close()
	return 0
}
