package main

import (
	"net"
	"testing"
)

// TestH178UIBadAddrIsAUsageError: a malformed --addr (no port, a port
// that is no number or service, one past 65535) is a usage mistake, as a
// malformed value of every other flag is: exit 2, one line pointing to
// ckpt ui --help. It exited 1. An address that is well formed but cannot
// be listened on (in use) is no usage mistake: exit 1.
func TestH178UIBadAddrIsAUsageError(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, addr := range []string{"bad", "127.0.0.1:notaport", "127.0.0.1:99999", ":-1"} {
		t.Run(addr, func(t *testing.T) {
			r := runIn(t, dir, "", "ui", db, "--addr", addr)
			failsWith(t, r, 2, "--addr "+addr+": ")
			failsWith(t, r, 2, "(see 'ckpt ui --help')")
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no TCP here: %v", err)
	}
	defer ln.Close()
	r := runIn(t, dir, "", "ui", db, "--addr", ln.Addr().String())
	failsWith(t, r, 1, "--addr "+ln.Addr().String()+": ")
}
