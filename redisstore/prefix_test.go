package redisstore

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Two stores sharing one Redis under prefixes p and p+":{x}" must not read
// each other's threads: store B's thread "t" has the keys p:{x}:{t}:cp...,
// which are also store A's thread "x}:{t". Either New refuses such a
// prefix or the keys differ.
func TestPrefixesDoNotShareKeys(t *testing.T) {
	srv := sharedServer(t)
	p := uniquePrefix()
	a := newTestStore(t, srv, Options{Prefix: p})
	b, err := New(bg, Options{Addr: srv.Addr(), Prefix: p + ":{x}"})
	if errors.Is(err, ckpt.ErrInvalidConfig) {
		return // refused: the prefix could name another store's keys
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer b.Close()
	step(t, b, ckpt.Config{ThreadID: "t"}, 1)
	if tp, err := a.GetTuple(bg, ckpt.Config{ThreadID: "x}:{t"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("store A reads store B's thread as its own: %v %v", tp, err)
	}
}
