package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUIServesTheFileReadOnlyAndPrintsTheAddress(t *testing.T) {
	_, db := demoFixture(t)
	pr, pw := io.Pipe()
	a := newApp(strings.NewReader(""), pw, io.Discard)
	a.lockTimeout = time.Second
	c := newUICmd(a)
	c.SetArgs([]string{db})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (%v)", err, <-done)
	}
	m := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no loopback address in %q", line)
	}
	resp, err := http.Get(m[1] + "thread?t=demo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "responder") || strings.Contains(string(body), `name="csrf"`) {
		t.Fatalf("thread page: %d\n%s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ui after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ui did not stop when its context ended")
	}
}

func TestDemoSaysHowToOpenItsThreadInUI(t *testing.T) {
	dir := t.TempDir()
	r := ok(t, dir, "demo", "--thread", "t1")
	if !strings.Contains(r.stdout, "ui demo.db\n") || !strings.Contains(r.stdout, "then thread t1") {
		t.Fatalf("the demo does not point to ckpt ui:\n%s", r)
	}
}
