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

// While the service holds the file, a page says so, as the CLI does, with
// a status that is not 200 (503: the file is busy, try again), and ui keeps
// serving: once the service closes the store, the pages come back, with
// what the service wrote.
func TestH245PageWhileTheServiceHoldsTheFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	url := h245UI(t, dir, db)
	s := h245Service(t, db)
	for _, page := range []string{"", "thread?t=demo", "stats"} {
		code, body := h245Get(t, url+page)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "is held by another process (a program has the store open); stop that program or wait for it to close the store") {
			t.Errorf("/%s while the service holds the file: %d, want 503 saying it is held\n%s", page, code, body)
		}
	}
	if _, err := s.Save(t.Context(), "h245-service", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := h245Get(t, url); code != http.StatusOK || !strings.Contains(body, "/thread?t=h245-service") || !strings.Contains(body, "/thread?t=demo") {
		t.Fatalf("the threads page once the service closed the store: %d\n%s", code, body)
	}
	if code, body := h245Get(t, url+"thread?t=h245-service"); code != http.StatusOK {
		t.Fatalf("the service's thread once it closed the store: %d\n%s", code, body)
	}
}

// Pages read before ui let go of the file and after it reopened it are
// the same pages: a thread page, a checkpoint page (found by the id the
// thread page links) and the stats page, read again once a service opened and
// closed the file between them (so ui closed it in between).
func TestH245PagesAcrossAnIdleClose(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	url := h245UI(t, dir, db)
	read := func() map[string]string {
		got := map[string]string{}
		for _, page := range []string{"", "thread?t=demo", "stats"} {
			code, body := h245Get(t, url+page)
			if code != http.StatusOK {
				t.Fatalf("/%s: %d\n%s", page, code, body)
			}
			got[page] = body
		}
		_, id, ok := strings.Cut(got["thread?t=demo"], "/checkpoint?id=")
		if !ok {
			t.Fatalf("the thread page links no checkpoint:\n%s", got["thread?t=demo"])
		}
		id, _, _ = strings.Cut(id, "&amp;")
		code, body := h245Get(t, url+"checkpoint?t=demo&id="+id)
		if code != http.StatusOK {
			t.Fatalf("checkpoint %s: %d\n%s", id, code, body)
		}
		got["checkpoint"] = body
		return got
	}
	before := read()
	s := h245Service(t, db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := read()
	for page, b := range before {
		// The stats page says how old its figures are: it answers, and
		// the pages of checkpoints are the same.
		if page != "stats" && after[page] != b {
			t.Errorf("/%s changed across ui's close and reopen:\nbefore:\n%s\nafter:\n%s", page, b, after[page])
		}
	}
}
