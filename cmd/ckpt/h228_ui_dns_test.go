package main

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// An --addr whose host does not resolve said the resolver's words, "lookup
// nosuchhost.invalid on 10.255.255.53:53: no such host": the DNS server's
// address, which the user never gave, in Go's net words (h228, found with
// ckpt ui demo.db --addr nosuchhost.invalid:0). Made here: the resolver's
// answer depends on the machine's network.
func TestH228UIAddrHostNotFoundSaysTheHost(t *testing.T) {
	t.Parallel()
	dnsErr := &net.DNSError{Err: "no such host", Name: "nosuchhost.invalid", Server: "10.255.255.53:53", IsNotFound: true}
	err := listenError("nosuchhost.invalid:0", &net.OpError{Op: "listen", Net: "tcp", Err: dnsErr})
	want := `--addr nosuchhost.invalid:0: cannot listen there: no host named "nosuchhost.invalid" (give an address, such as 127.0.0.1, or a name this machine resolves)`
	if err.Error() != want {
		t.Fatalf("\n got %s\nwant %s", err, want)
	}
	if !errors.Is(err, dnsErr) {
		t.Fatalf("want it to wrap the DNS error: %v", err)
	}
	// Another failure of the lookup says its words, still without the
	// resolver's address.
	dnsErr = &net.DNSError{Err: "server misbehaving", Name: "db.example", Server: "10.255.255.53:53", IsTemporary: true}
	err = listenError("db.example:0", &net.OpError{Op: "listen", Net: "tcp", Err: dnsErr})
	if msg := err.Error(); strings.Contains(msg, "10.255.255.53") || !strings.Contains(msg, `cannot look up "db.example": server misbehaving`) {
		t.Fatalf("got %s", msg)
	}
}
