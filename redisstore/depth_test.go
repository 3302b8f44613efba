package redisstore

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A pending write read from Redis whose value nests millions deep (forged,
// or damaged into it) is a CorruptError, not a goroutine stack overflow:
// msgpack's decoder of the value recursed once per level, and a stack
// overflow kills the process. It runs in a child process (this test binary
// re-executed, its stack capped at 64 MiB) so that, without the limit, the
// suite survives to report it.
func TestDeepWriteIsCorrupt(t *testing.T) {
	if os.Getenv("CKPT_DEPTH_CHILD") == "" {
		if testing.Short() {
			t.Skip("runs a child process")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestDeepWriteIsCorrupt$", "-test.v")
		cmd.Env = append(os.Environ(), "CKPT_DEPTH_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestDeepWriteIsCorrupt")) {
			lines := strings.SplitN(string(out), "\n", 31)
			t.Fatalf("child: %v\n%s", err, strings.Join(lines[:min(len(lines), 30)], "\n"))
		}
		return
	}
	debug.SetMaxStack(64 << 20)
	deep := append(bytes.Repeat([]byte{0x91}, 4<<20), 0xc0)
	rec := append([]byte{recordV1, 0x93, 0xa1, 'c', 0xa0}, deep...)
	_, err := decodeWrite("k", "f", rec)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("decodeWrite of a deep value = %v, want a CorruptError saying it nests too deeply", err)
	}
	if err := ckpt.CheckNesting(deep); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Errorf("CheckNesting of the deep value = %v, want ErrCorrupt", err)
	}
	if err := ckpt.CheckNesting(deep[len(deep)-100:]); err != nil {
		t.Errorf("CheckNesting of 99 levels = %v", err)
	}
}
