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

// `ckpt ui FILE --addr 0.0.0.0:0` (or ":0") listens on every interface;
// the address it prints must be one a browser on this machine can open.
// It printed http://[::]:PORT/, and the handler's DNS-rebinding check
// answers a request for Host [::] on a loopback connection with 403.
func TestUIOnAllInterfacesPrintsAnAddressThatOpens(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		t.Run(addr, func(t *testing.T) {
			_, db := demoFixture(t)
			pr, pw := io.Pipe()
			a := newApp(strings.NewReader(""), pw, io.Discard)
			a.lockTimeout = time.Second
			c := newUICmd(a)
			c.SetArgs([]string{db, "--addr", addr})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.ExecuteContext(ctx); pw.Close() }()
			defer func() { cancel(); <-done }()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				t.Fatalf("no address printed: %v", err)
			}
			m := regexp.MustCompile(`at (http://\S+/)`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("no address in %q", line)
			}
			resp, err := http.Get(m[1])
			if err != nil {
				t.Fatalf("the printed address %s does not open: %v", m[1], err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the printed address %s answers %d: %s", m[1], resp.StatusCode, body)
			}
		})
	}
}
