package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallingWriter is an export's consumer that stops reading (a network
// peer that hangs): its first Write tells entered and waits for release;
// the writes after it go through.
type stallingWriter struct {
	entered, release chan struct{}
	once             sync.Once
}

func newStallingWriter() *stallingWriter {
	return &stallingWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	return len(p), nil
}

// fillForStall stores three threads, the first with a value larger than
// the export's 64 KB write buffer, so that the consumer is first written
// to while that thread is being dumped.
func fillForStall(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for i, th := range []string{"a", "b", "c"} {
		v := make([]byte, 16<<10)
		if i == 0 {
			v = make([]byte, 256<<10)
		}
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		for j := range 2 {
			if _, err := s.Save(ctx, th, map[string]any{"v": v, "j": j}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pagesInUse is bbolt's high-water mark: the size its pages reach.
func pagesInUse(t *testing.T, s *Store) int64 {
	t.Helper()
	tx, _, err := s.eng.BeginSnapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.eng.EndSnapshot(tx)
	return tx.Size()
}

// TestExportStalledOnItsWriterHoldsNoPages: an Export whose consumer stops
// reading must not keep bbolt's freed pages from reuse. Export wrote to
// its writer inside the thread's read transaction, so a stalled consumer
// held that transaction open, and every page freed after it began (the
// threads a GC deleted while new ones were written) stayed unused: the
// file grew by every round's worth. Measured by pages (bbolt's high-water mark),
// not time: NoWAL, so that each write is its own bbolt commit.
func TestExportStalledOnItsWriterHoldsNoPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "stall.db"), Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillForStall(t, s)
	// Threads written before the export began: their pages are in the
	// export's view, and the rounds below free them.
	const rounds, size = 24, 128 << 10
	r := rand.New(rand.NewPCG(3, 4))
	value := func() []byte {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		return v
	}
	for i := range rounds + 4 {
		if _, err := s.Save(ctx, fmt.Sprintf("old-%d", i), map[string]any{"v": value()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	w := newStallingWriter()
	done := make(chan error, 1)
	go func() {
		_, err := s.Export(ctx, w, ExportOptions{})
		done <- err
	}()
	<-w.entered // the export is stalled on its consumer
	// A round deletes a thread of size bytes that was there before the
	// export began and writes a new one as large: a GC's work in a
	// service that goes on writing.
	round := func(i int) {
		if err := s.DeleteThread(ctx, fmt.Sprintf("old-%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, fmt.Sprintf("new-%d", i), map[string]any{"v": value()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 { // warm up: the freelist reaches its working size
		round(i)
	}
	before := pagesInUse(t, s)
	for i := 4; i < rounds+4; i++ {
		round(i)
	}
	after := pagesInUse(t, s)
	close(w.release)
	if err := <-done; err != nil {
		t.Fatalf("export after its consumer went on: %v", err)
	}
	// Each round frees a value of size bytes and writes another: with the
	// freed pages reused, the file needs no more room; held from reuse,
	// one value's more each round.
	if grew := after - before; grew > 4*size {
		t.Fatalf("while an export was stalled on its consumer, %d rounds of a %d KB thread deleted and another written grew bbolt's pages by %d KB (from %d KB): freed pages were not reused",
			rounds, size>>10, grew>>10, before>>10)
	}
}

// TestCloseEndsAStalledExport: Close of a store whose Export is stalled on
// its consumer returns without waiting for the consumer, and the Export
// then fails with ErrClosed. Close waited for the export's read
// transaction, which the stalled write held open: for ever. The wait below
// is not a measure of speed: Close needs nothing of the consumer, and the
// bound only turns a hang into a failure.
func TestCloseEndsAStalledExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, noWAL := range []bool{false, true} {
		s, err := Open(filepath.Join(t.TempDir(), "stall.db"), Options{NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		fillForStall(t, s)
		w := newStallingWriter()
		done := make(chan error, 1)
		go func() {
			_, err := s.Export(ctx, w, ExportOptions{})
			done <- err
		}()
		<-w.entered
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("NoWAL %v: Close: %v", noWAL, err)
			}
		case <-time.After(20 * time.Second):
			close(w.release) // let the export and Close end
			<-closed
			<-done
			t.Fatalf("NoWAL %v: Close did not return while an Export was stalled on its consumer", noWAL)
		}
		close(w.release)
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("NoWAL %v: Export stalled across Close: %v, want ErrClosed", noWAL, err)
		}
	}
}

var _ io.Writer = (*stallingWriter)(nil)

// TestExportSpooledToAFileIsTheSameDump: a thread larger than the export's
// memory spools to a temporary file; the dump is byte for byte the one
// held in memory, and no file is left beside the store.
func TestExportSpooledToAFileIsTheSameDump(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	fillForExport(t, s)
	fillForStall(t, s)
	inMemory := export(t, s)
	s.tune.exportSpoolMem = 1000 // every thread spills, after a few lines held in memory
	spooled := export(t, s)
	if !bytes.Equal(inMemory, spooled) {
		t.Fatalf("a dump spooled to a file differs from one held in memory:\n%.2000s\n---\n%.2000s", inMemory, spooled)
	}
	ents, err := os.ReadDir(filepath.Dir(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), "export") {
			t.Errorf("the export left %s beside the store", e.Name())
		}
	}
}
