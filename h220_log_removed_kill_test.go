package ckpt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// h220ChildEnv names the store H220Child writes; h220HoldEnv, if "1",
// holds its applier (every acknowledged write stays in the log only).
const (
	h220ChildEnv = "CKPT_H220_CHILD"
	h220HoldEnv  = "CKPT_H220_HOLD"
)

// H220Child is the child of TestH220LogRemovedWhileOpenThenKilled: it
// opens the store at CKPT_H220_CHILD, saves three Sync checkpoints of
// thread t, printing "A <id>" for each acknowledged one, then "ready". For
// each line "write" on its stdin it saves one more (printing "A <id>" if
// acknowledged, "E <error>" if not) and "ready" again; it never closes the
// store: its parent kills it (SIGKILL).
func H220Child() int {
	ctx := context.Background()
	opts := Options{}
	if os.Getenv(h220HoldEnv) == "1" {
		opts = h213Held(opts)
	}
	s, err := Open(os.Getenv(h220ChildEnv), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	n := 0
	save := func() {
		n++
		id, err := s.Save(ctx, "t", map[string]any{"n": n}, nil)
		if err != nil {
			fmt.Printf("E %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		fmt.Printf("A %s\n", id)
	}
	for range 3 {
		save()
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "write" {
			save()
		}
		fmt.Println("ready")
	}
	select {} // the kill comes
}

// TestH220LogRemovedWhileOpenThenKilled: while a store is open, its
// write-ahead log is removed by a user (rm s.db-wal), replaced by an empty
// file, or replaced by another store's log; then the process is killed
// (SIGKILL), before its next write or just after one. With the applier
// held (every acknowledged write in the log only) and not. The next Open
// must either give back every acknowledged write or refuse with ErrCorrupt
// naming the log; never open with fewer, never show the other store's
// thread. It held on 2f51608 (a regression test): the file's live mark
// names its log, so Open refuses a missing or empty log (LogMissingError)
// and another store's (its identity); a write after the swap fails (the
// engine sees the log's path no longer names its open file), unacknowledged.
func TestH220LogRemovedWhileOpenThenKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	ctx := context.Background()
	// other is a closed store whose log still holds a group (killed with
	// its applier held): another store's log to put in place.
	otherDir := t.TempDir()
	other := filepath.Join(otherDir, "o.db")
	{
		o, err := Open(other, h213Held(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Save(ctx, "o", map[string]any{"n": 1}, nil); err != nil {
			t.Fatal(err)
		}
		cp := crashCopy(t, o)
		_ = o.Close()
		other = cp
	}
	otherLog, err := os.ReadFile(other + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, hold := range []bool{true, false} {
		for _, action := range []string{"rm", "empty", "foreign"} {
			for _, writeAfter := range []bool{false, true} {
				name := fmt.Sprintf("hold=%v/%s/write-after=%v", hold, action, writeAfter)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					path := filepath.Join(t.TempDir(), "s.db")
					cmd := exec.Command(testchild.Binary(), "-test.run=^$")
					holdEnv := "0"
					if hold {
						holdEnv = "1"
					}
					cmd.Env = ChildEnvForTest(h220ChildEnv+"="+path, h220HoldEnv+"="+holdEnv)
					var stderr strings.Builder
					cmd.Stderr = &stderr
					stdin, err := cmd.StdinPipe()
					if err != nil {
						t.Fatal(err)
					}
					stdout, err := cmd.StdoutPipe()
					if err != nil {
						t.Fatal(err)
					}
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					killed := false
					defer func() {
						if !killed {
							_ = cmd.Process.Kill()
							_ = cmd.Wait()
						}
					}()
					out := bufio.NewScanner(stdout)
					var acked []string
					waitReady := func() {
						t.Helper()
						for out.Scan() {
							l := out.Text()
							switch {
							case l == "ready":
								return
							case strings.HasPrefix(l, "A "):
								acked = append(acked, l[2:])
							case strings.HasPrefix(l, "E "):
								t.Logf("the write after the log was %s failed: %s", action, l[2:])
							}
						}
						t.Fatalf("child ended: %s", stderr.String())
					}
					waitReady()
					log := path + walSuffix
					switch action {
					case "rm":
						err = os.Remove(log)
					case "empty":
						if err = os.Remove(log); err == nil {
							err = os.WriteFile(log, nil, 0o600)
						}
					case "foreign":
						if err = os.Remove(log); err == nil {
							err = os.WriteFile(log, otherLog, 0o600)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					if writeAfter {
						if _, err := fmt.Fprintln(stdin, "write"); err != nil {
							t.Fatal(err)
						}
						waitReady()
					}
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					killed = true
					s, err := Open(path, Options{})
					if err != nil {
						if errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), "log") {
							t.Logf("refused: %v", err)
							return
						}
						t.Fatalf("Open after the kill: %v, want every acknowledged write or ErrCorrupt naming the log", err)
					}
					defer s.Close()
					for _, id := range acked {
						if _, err := s.Load(ctx, "t", id); err != nil {
							t.Errorf("opened, and acknowledged checkpoint %s is lost: %v", id, err)
						}
					}
					if hasThread(t, s, "o") {
						t.Errorf("opened with the other store's thread")
					}
					rep, err := s.Verify(ctx, VerifyOptions{})
					if err != nil || !rep.OK() {
						t.Errorf("Verify: %v %+v", err, rep)
					}
					if !t.Failed() {
						t.Logf("opened with all %d acknowledged", len(acked))
					}
				})
			}
		}
	}
}
