package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
	"github.com/spf13/cobra"
)

func init() { register(newUICmd) }

// uiAddress is the address to open for a listener: on every interface
// (0.0.0.0, ::) that is the loopback one, since the handler answers a
// request for Host [::] or 0.0.0.0 on a loopback connection with 403 (its
// DNS-rebinding check), and a line saying the pages are open to the
// network, which they are without authentication.
func uiAddress(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return "http://" + addr.String() + "/"
	}
	return fmt.Sprintf("http://127.0.0.1:%d/ (listening on every interface, port %d: anyone who can reach it reads the store, with no authentication)", ta.Port, ta.Port)
}

// checkListenAddr tells whether addr is a host:port net.Listen can parse:
// a port number from 0 to 65535 or a service name. The host is left to
// Listen (resolving it is no check of the command line).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return err
	}
	return nil
}

func newUICmd(a *app) *cobra.Command {
	var addr string
	c := &cobra.Command{
		Use:   "ui FILE",
		Short: "Browse a store in the web browser (history tree, diffs, stats)",
		Long: `ui opens FILE read-only and serves the history browser (the pages a
program gets by mounting ckpt's web.Handler) on --addr, by default a free
port on 127.0.0.1, and prints the address to open. It serves until it is
interrupted. It holds FILE only while it builds a page and for half a
second after the last one, then closes it and opens it again for the
next page: a program that opens FILE for writing while ui runs (a
service, or its supervisor restarting it) gets it, waiting at most that
long. While such a program holds FILE, a page says so (status 503), as
the other commands do, and ui goes on serving: once the program closes
FILE, the pages show what it wrote. A program that holds the file (a
running agent) can mount web.Handler itself, to look at it while it
runs: see the README.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			if err := checkListenAddr(addr); err != nil {
				// Malformed, as a bad value of any flag: a usage
				// mistake, found before the file is opened. One that
				// cannot be listened on (in use) is not: Listen says.
				return usageError{fmt.Sprintf("--addr %s: %v", addr, err)}
			}
			// Opened once here so that a file ui cannot serve (missing,
			// damaged, held by a running service) is said at once, as
			// every command says it; then the lender closes it when no
			// page is asked for and opens it again for the next.
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			lender := newUILender(s, func() (*ckpt.Store, error) { return a.openRead(args[0]) }, a.errw, uiIdleClose)
			defer func() {
				if s := lender.shut(); s != nil {
					a.closeStore(s, &err)
				}
			}()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return listenError(addr, err)
			}
			srv := &http.Server{Handler: web.LentHandler(args[0], lender, web.Options{}), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(a.out, "ckpt ui: %s (read-only) at %s\n", args[0], uiAddress(ln.Addr()))
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			srv.BaseContext = func(net.Listener) context.Context { return ctx } // ends open event streams on Ctrl-C, so Shutdown need not wait for them
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return err
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free one)")
	return c
}

// listenError says why --addr cannot be listened on, and what to do: the
// net package's "listen tcp ADDR: bind: WHY" named the address twice, in
// its own words, with no way out.
func listenError(addr string, err error) error {
	why := err
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		why = oe.Err
		if se, ok := errors.AsType[*os.SyscallError](why); ok {
			why = se.Err
		}
	}
	hint := ""
	// A host that does not resolve: the resolver's words name its own
	// address ("lookup H on 10.0.0.53:53: no such host"), which the user
	// never gave.
	if de, ok := errors.AsType[*net.DNSError](err); ok {
		why = fmt.Errorf("cannot look up %q: %s", de.Name, de.Err)
		if de.IsNotFound {
			why = fmt.Errorf("no host named %q", de.Name)
			hint = " (give an address, such as 127.0.0.1, or a name this machine resolves)"
		}
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = " (another program listens on that port; port 0 picks a free one)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = " (no interface of this machine has that address; 127.0.0.1 is this machine's own)"
	case errors.Is(err, fs.ErrPermission):
		hint = " (ports below 1024 need privileges; port 0 picks a free one)"
	}
	return textError{fmt.Sprintf("--addr %s: cannot listen there: %v%s", addr, why, hint), err}
}
