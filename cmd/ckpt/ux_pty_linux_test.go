package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair with the syscall package alone:
// the master end and the terminal a child gets as its stdin.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the terminal: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return m, s
}

// TestImportFromTerminalRefuses: 'ckpt import FILE' with no DUMP and a
// terminal on stdin would sit waiting for a dump nobody types; it says
// how to give one instead (exit 2) and creates nothing. An explicit "-"
// still reads the terminal.
func TestImportFromTerminalRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	master, tty := openPTY(t)
	cmd := exec.Command(binPath, "import", "new.db")
	cmd.Dir = dir
	cmd.Stdin = tty
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// End of input on the terminal (^D at the start of a line), so a
	// command that does read it ends too instead of waiting.
	if _, err := master.Write([]byte{4}); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	r := result{args: cmd.Args[1:], stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	failsWith(t, r, 2, "stdin is a terminal: give the dump file (ckpt import FILE DUMP) or redirect it (ckpt import FILE < dump.jsonl)")
	if _, err := os.Stat(filepath.Join(dir, "new.db")); !os.IsNotExist(err) {
		t.Fatalf("the refused import created new.db: %v", err)
	}
}
