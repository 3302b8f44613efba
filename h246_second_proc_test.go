package ckpt_test

// h246: a second process at the file while the first runs Rekey, Compact
// (its swap), Backup, GC and ListIDs of a sealed store beside Sync and
// Async writers. The second process (probe children) opens the file
// over and over, read-write, read-only, and with RecoverLog and
// ImportFile, each with a short LockTimeout: every attempt must fail with
// ErrLocked (the first process holds the file the whole time, through
// Compact's swap too), never open it, never fail otherwise, never panic.
// Afterwards every write the first process acknowledged reads back exact
// with the newest key alone, and Verify is clean: the probes changed
// nothing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// h246ProbeKinds are the probes' ways at the file, in turn.
var h246ProbeKinds = []string{"rw", "ro", "recover", "importfile"}

// h246Probe is the probe child: it tries the file at path in each way in
// turn until path+".stop" exists (at most 2 minutes), printing "L kind"
// for an ErrLocked, "O kind" for an attempt that got the file and "X kind
// err" for any other error.
func h246Probe(path string) int {
	ctx := context.Background()
	opts := ckpt.Options{LockTimeout: 20 * time.Millisecond,
		Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2), rekeyKey(1)}}}
	say := func(kind string, err error) {
		switch {
		case err == nil:
			fmt.Println("O", kind)
		case errors.Is(err, ckpt.ErrLocked):
			fmt.Println("L", kind, strings.ReplaceAll(err.Error(), "\n", " | "))
		default:
			fmt.Println("X", kind, strings.ReplaceAll(err.Error(), "\n", " | "))
		}
	}
	for deadline, i := time.Now().Add(2*time.Minute), 0; time.Now().Before(deadline); i++ {
		if _, err := os.Stat(path + ".stop"); err == nil {
			return 0
		}
		switch kind := h246ProbeKinds[i%len(h246ProbeKinds)]; kind {
		case "rw", "ro":
			o := opts
			o.ReadOnly = kind == "ro"
			s, err := ckpt.Open(path, o)
			if err == nil {
				_ = s.Close()
			}
			say(kind, err)
		case "recover":
			_, err := ckpt.RecoverLog(path, opts)
			say(kind, err)
		case "importfile":
			dump, err := os.ReadFile(path + ".dump")
			if err == nil {
				_, err = ckpt.ImportFile(ctx, path, bytes.NewReader(dump), opts, ckpt.ImportOptions{})
			}
			say(kind, err)
		}
	}
	return 0
}

func TestH246SecondProcessDuringMaintenance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	// A dump for the ImportFile probes: one checkpoint of another thread.
	d, err := ckpt.Open(filepath.Join(filepath.Dir(path), "d.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Save(ctx, "imported", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := d.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".dump", dump.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// Key 1's records, for Rekey to re-seal.
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	type ack struct {
		thread string
		i      int
		id     string
	}
	var acks []ack
	for i := range 300 {
		id, err := s.Save(ctx, "k0", h246Value("k0", i), ckpt.Metadata{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack{"k0", i, id})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2), rekeyKey(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	var probes []*child
	for range 2 {
		probes = append(probes, startChild(t, "h246-probe", path))
	}
	stop := func() {
		if err := os.WriteFile(path+".stop", nil, 0o600); err != nil {
			t.Error(err)
		}
	}
	defer stop()
	// The writers: one Sync, one Async acknowledged by its Flush.
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	werr := make(chan error, 2)
	for _, d := range []ckpt.Durability{ckpt.Sync, ckpt.Async} {
		th := "w-" + d.String()
		wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: d})
		wg.Go(func() {
			var queued []ack
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				id, err := s.Save(wctx, th, h246Value(th, i), ckpt.Metadata{"i": i})
				if err != nil {
					werr <- err
					return
				}
				queued = append(queued, ack{th, i, id})
				if d == ckpt.Async && i%5 != 4 {
					continue
				}
				if d == ckpt.Async {
					if err := s.Flush(ctx); err != nil {
						werr <- err
						return
					}
				}
				mu.Lock()
				acks = append(acks, queued...)
				mu.Unlock()
				queued = queued[:0]
			}
		})
	}
	// The maintenance, round after round until each probe tried the file
	// in every way a few times (at most 200 rounds); the probes run
	// throughout.
	maint := []struct {
		name string
		run  func() error
	}{
		{"rekey", func() error { _, err := s.Rekey(ctx); return err }},
		{"listids", func() error {
			n := 0
			for _, err := range s.ListIDs(ctx, ckpt.ListOptions{ThreadID: "k0"}) {
				if err != nil {
					return err
				}
				n++
			}
			if n != 300 {
				return fmt.Errorf("ListIDs of k0: %d ids, want 300", n)
			}
			return nil
		}},
		{"compact", func() error { _, err := s.Compact(ctx, nil); return err }},
		{"backup", func() error {
			var b bytes.Buffer
			return s.Backup(ctx, &b)
		}},
		{"gc", func() error { _, err := s.GC(ctx, ckpt.Policy{ThreadTTL: 100 * 365 * 24 * time.Hour}); return err }},
	}
	tried := func() bool {
		for _, p := range probes {
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n < 5*len(h246ProbeKinds) {
				return false
			}
		}
		return true
	}
	rounds := 0
	for ; rounds < 200 && (rounds < 3 || !tried()); rounds++ {
		for _, m := range maint {
			if err := m.run(); err != nil {
				t.Errorf("round %d: %s: %v", rounds, m.name, err)
			}
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-werr:
		t.Errorf("a writer: %v", err)
	default:
	}
	stop()
	counts, samples := map[string]int{}, map[string]string{}
	for _, p := range probes {
		waitBounded(t, p, 30*time.Second)
		for _, l := range p.lines {
			f := strings.SplitN(l, " ", 3)
			counts[f[0]+" "+f[1]]++
			if f[0] == "L" && (len(f) < 3 || !strings.Contains(f[2], path)) {
				t.Errorf("an ErrLocked that does not name the file: %s", l)
			}
			if f[0] == "L" && samples[f[1]] == "" {
				samples[f[1]] = f[2]
			}
			if f[0] != "L" {
				t.Errorf("a second process while the first held the file: %s", l)
			}
		}
		if strings.Contains(p.stderr.String(), "panic") {
			t.Errorf("a probe panicked: %s", p.stderr.String())
		}
	}
	for _, k := range h246ProbeKinds {
		if counts["L "+k] == 0 {
			t.Errorf("no %s probe ran (%v)", k, counts)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Everything acknowledged, under the newest key alone; nothing else
	// changed.
	s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, a := range acks {
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: a.id})
		if err != nil {
			t.Fatalf("%s step %d (%s): %v", a.thread, a.i, a.id, err)
		}
		got, err := tp.Checkpoint.ChannelValues["v"].(ckpt.Raw).Value()
		if err != nil || got != h246Value(a.thread, a.i)["v"] {
			t.Fatalf("%s step %d: %v (%v)", a.thread, a.i, got, err)
		}
	}
	if _, err := s.Latest(ctx, "imported"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("the thread of the ImportFile probes: %v, want ErrNotFound", err)
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
	t.Logf("%d maintenance rounds, %d writes acknowledged; probes: %v; their errors: %q", rounds, len(acks), counts, samples)
}

func h246Value(th string, i int) map[string]any {
	return map[string]any{"v": fmt.Sprintf("%s-%d-%s", th, i, strings.Repeat("x", i%7*100))}
}

// waitBounded waits for the child to end, at most d (then kills it).
func waitBounded(t *testing.T, c *child, d time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Errorf("child %s did not end within %v: %s", c.mode, d, c.stderr.String())
	}
	_ = c.cmd.Wait()
}
