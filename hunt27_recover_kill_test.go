package ckpt_test

// A process killed during `ckpt recover` (RecoverLog): at each of its
// steps (the file opened, its mark read, inside the replay's transaction,
// after that commit and before the damaged log is moved aside) and at
// random moments. After each kill, the next Open either opens or refuses
// with ErrCorrupt; RecoverLog run again then succeeds, and the store reads
// exactly as a recovery that was never killed left it: every group before
// the damage, nothing after, Verify clean.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const recoverKillEnv = "CKPT_RECOVER_KILL_AT"

// recoverChild runs RecoverLog on path, killing itself (SIGKILL: no
// cleanup) at the step recoverKillEnv names ("" : never).
func recoverChild(path string) int {
	at := os.Getenv(recoverKillEnv)
	opts := ckpt.WithRecoverStep(ckpt.Options{}, func(step string) {
		if step == at {
			testchild.KillSelf()
		}
	})
	if _, err := ckpt.RecoverLog(path, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// recoverKillBase writes a store killed with 30 groups in its log (the
// applier held: none in the file) and flips a byte in the 20th record,
// returning the damaged store's path.
func recoverKillBase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "live.db")
	s, err := ckpt.Open(path, ckpt.WithHeldApplier(ckpt.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 30 {
		if _, err := s.Save(ctx, "t", map[string]any{"i": i, "pad": bytes.Repeat([]byte{byte(i)}, 500)}, ckpt.Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "base.db")
	copyFile(t, path, base) // nothing writes the file while the applier is held
	log, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each record holds a checkpoint's 500 bytes of pad: the 20th record's
	// pad is the run of twenty bytes 19 (found, not computed).
	at := bytes.Index(log, bytes.Repeat([]byte{19}, 500))
	if at < 0 {
		t.Fatal("no record of checkpoint 19 in the log")
	}
	log[at+250] ^= 0xff
	if err := os.WriteFile(base+"-wal", log, 0o600); err != nil {
		t.Fatal(err)
	}
	return base
}

func recoverRun(t *testing.T, path, killAt string, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv("CKPT_FILE_CHILD=recover", "CKPT_CRASH_FILE="+path, recoverKillEnv+"="+killAt)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if delay > 0 {
		time.Sleep(delay) // a kill at a random moment, not synchronisation
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	err := cmd.Wait()
	switch {
	case killAt == "" && delay == 0 && err != nil:
		t.Fatalf("recover child: %v\n%s", err, stderr.String())
	case killAt != "" && (err == nil || !strings.Contains(err.Error(), "killed")):
		t.Fatalf("recover child: step %q never came (%v)\n%s", killAt, err, stderr.String())
	}
}

// recoverState opens path (recovering it first if Open refuses it with
// ErrCorrupt) and returns its export, after Verify.
func recoverState(t *testing.T, path, what string) []byte {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{})
	if errors.Is(err, ckpt.ErrCorrupt) {
		if _, rerr := ckpt.RecoverLog(path, ckpt.Options{}); rerr != nil {
			t.Fatalf("%s: Open: %v; RecoverLog again: %v", what, err, rerr)
		}
		s, err = ckpt.Open(path, ckpt.Options{})
	}
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer s.Close()
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep.Problems, err)
	}
	var buf bytes.Buffer
	if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{}); err != nil {
		t.Fatalf("%s: export: %v", what, err)
	}
	return buf.Bytes()
}

func TestKillDuringRecover(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a child process per round")
	}
	base := recoverKillBase(t)
	copyPair := func() string {
		p := filepath.Join(t.TempDir(), "s.db")
		copyFile(t, base, p)
		copyFile(t, base+"-wal", p+"-wal")
		return p
	}
	ref := copyPair()
	recoverRun(t, ref, "", 0)
	want := recoverState(t, ref, "never killed")
	// The groups before the damaged one are kept: checkpoints 0..18.
	recoveredUpTo(t, ref, 18)
	killedRecoveriesAgree(t, copyPair, want, 27)
}

// recoveredUpTo fails t unless the latest checkpoint of thread "t" in the
// store at path holds i = want (the recovery never killed kept that far).
func recoveredUpTo(t *testing.T, path string, want int) {
	t.Helper()
	r, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Latest(context.Background(), "t")
	var last int
	if err == nil {
		err = snap.Decode("i", &last)
	}
	_ = r.Close()
	if err != nil || last != want {
		t.Fatalf("a recovery never killed kept up to checkpoint %d (%v), want %d", last, err, want)
	}
}

// killedRecoveriesAgree kills RecoverLog on fresh copies (copyPair) at
// each of its steps, then at seeded random moments, recovers each again,
// and fails t unless every one reads as want, a recovery never killed.
func killedRecoveriesAgree(t *testing.T, copyPair func() string, want []byte, seed uint64) {
	t.Helper()
	for _, at := range []string{"opened", "read", "replay", "committed"} {
		p := copyPair()
		recoverRun(t, p, at, 0)
		if got := recoverState(t, p, "killed at "+at); !bytes.Equal(got, want) {
			t.Errorf("killed at %s, then recovered: the store reads differently from a recovery never killed", at)
		}
	}
	// CKPT_RECOVER_KILL_SEED: other random moments (CKPT_HUNT_ROUNDS more).
	if v, err := strconv.ParseUint(os.Getenv("CKPT_RECOVER_KILL_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range huntRounds(8, 4) {
		p := copyPair()
		d := time.Duration(1+rng.IntN(40)) * time.Millisecond
		recoverRun(t, p, "", d)
		if got := recoverState(t, p, fmt.Sprintf("round %d, killed after %v", i, d)); !bytes.Equal(got, want) {
			t.Errorf("round %d, killed after %v, then recovered: the store reads differently from a recovery never killed", i, d)
		}
	}
}
