package testchild

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Start must begin the build by itself, before any child asks for the
// executable: that is what lets the build overlap with the sequential
// tests. The build command is replaced by a cheap one (this binary running
// no test) so the test costs no compile.
func TestStartBuildsBeforeBinary(t *testing.T) {
	if !needsBuild() {
		t.Skip("the children run the test binary itself (no -race, or CKPT_CHILD_RACE set): nothing to build")
	}
	began := make(chan string, 1)
	command = func(out string) *exec.Cmd {
		began <- out
		return exec.Command(os.Args[0], "-test.run=^$")
	}
	Start()
	var out string
	select {
	case out = <-began:
	case <-time.After(time.Minute):
		t.Fatal("Start did not begin the build (a minute without Binary)")
	}
	if got := Binary(); got != out {
		t.Fatalf("Binary() = %q, want the build's output %q", got, out)
	}
	if dir == "" {
		t.Fatal("no build directory recorded")
	}
	Cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Cleanup left %s (stat: %v)", dir, err)
	}
}
