package main

import (
	"net"
	"strings"
	"testing"
)

// ckpt ui on an --addr it cannot listen on said Go's words, "listen tcp
// 127.0.0.1:PORT: bind: address already in use": the address twice, and
// "listen tcp" and "bind" are the net package's, not the user's. The line
// now says it cannot listen there, why, and what to do.
func TestH225UIAddrNotListenableSaysWhy(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no TCP here: %v", err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	r := runIn(t, dir, "", "ui", db, "--addr", addr)
	// The OS's words between (Linux: "address already in use").
	failsWith(t, r, 1, "ckpt: --addr "+addr+": cannot listen there: ")
	failsWith(t, r, 1, " (another program listens on that port; port 0 picks a free one)")
	if strings.Contains(r.stderr, "listen tcp") || strings.Contains(r.stderr, "bind:") {
		t.Fatalf("Go's net words in the line:\n%s", r)
	}
	// TEST-NET-3 (RFC 5737): an address no interface here has.
	const away = "203.0.113.7:0"
	r = runIn(t, dir, "", "ui", db, "--addr", away)
	if r.code == 0 {
		t.Skipf("this machine listens on %s", away)
	}
	failsWith(t, r, 1, "ckpt: --addr "+away+": cannot listen there: ")
	failsWith(t, r, 1, " (no interface of this machine has that address; 127.0.0.1 is this machine's own)")
	if strings.Contains(r.stderr, "listen tcp") || strings.Contains(r.stderr, "bind:") {
		t.Fatalf("Go's net words in the line:\n%s", r)
	}
}
