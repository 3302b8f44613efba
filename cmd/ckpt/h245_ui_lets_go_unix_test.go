//go:build unix

package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// h245UI starts `ckpt ui db` in dir and returns the address it serves;
// it is interrupted (and must exit 0) when the test ends.
func h245UI(t *testing.T, dir, db string) string {
	t.Helper()
	cmd := exec.Command(binPath, "ui", db)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	detector := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		defer detector.Stop()
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("ckpt ui on Ctrl-C: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_, url, ok := strings.Cut(strings.TrimSpace(line), "(read-only) at ")
	if err != nil || !ok {
		t.Fatalf("ckpt ui did not start: %q, %v", line, err)
	}
	return url
}

// h245Get fetches url and returns its status and body.
func h245Get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// h245Service opens db for writing as a service (or its supervisor's
// restart) does. Its LockTimeout is a failure detector: ui lets go of the
// file once no page has been asked for a short while (uiIdleClose), far
// less than that.
func h245Service(t *testing.T, db string) *ckpt.Store {
	t.Helper()
	s, err := ckpt.Open(db, ckpt.Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("a service's Open while ckpt ui runs idle: %v", err)
	}
	return s
}

// An operator looks at a store with ckpt ui, then leaves the browser
// alone; a service that opens the file for writing meanwhile (a
// supervisor restarting it) gets it, whether or not a page was read.
func TestH245ServiceOpensWhileUIRunsIdle(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	url := h245UI(t, dir, db)
	s := h245Service(t, db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := h245Get(t, url); code != http.StatusOK || !strings.Contains(body, "/thread?t=demo") {
		t.Fatalf("the threads page: %d\n%s", code, body)
	}
	s = h245Service(t, db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
