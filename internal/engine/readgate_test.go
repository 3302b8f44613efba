package engine

import "testing"

// hiddenReader marks a reader that went through the gate's hiding.
type hiddenReader struct{ Reader }

// TestReadGateHidesReadsBesideAnOperation: a read is hidden when an
// operation runs as its reader is chosen, and when one ended between its
// snapshot (before) and that choice (its snapshot may lack the
// operation's last commit); not before any operation, nor once one ended
// before the read began.
func TestReadGateHidesReadsBesideAnOperation(t *testing.T) {
	g := &readGate{hide: func(r Reader) Reader { return hiddenReader{r} }}
	var base Reader = &BoltView{}
	hidden := func(r Reader) bool { _, ok := r.(hiddenReader); return ok }
	if hidden(g.reader(base, g.before())) {
		t.Fatal("a read with no operation was hidden")
	}
	e := &Engine{gate: readGate{hide: g.hide}}
	g = &e.gate
	end := e.Unpublished()
	if !hidden(g.reader(base, g.before())) {
		t.Fatal("a read during an operation was not hidden")
	}
	ended := g.before() // the snapshot taken, then the operation ends
	end()
	if !hidden(g.reader(base, ended)) {
		t.Fatal("a read whose snapshot was taken before the operation ended was not hidden")
	}
	if hidden(g.reader(base, g.before())) {
		t.Fatal("a read begun after the operation ended was hidden")
	}
	end2 := e.Unpublished()
	ended = g.before()
	end3 := e.Unpublished() // another starts and ends: the first still runs
	end3()
	if !hidden(g.reader(base, ended)) {
		t.Fatal("a read during the first of two operations was not hidden")
	}
	end2()
	if hidden(g.reader(base, g.before())) {
		t.Fatal("a read after both ended was hidden")
	}
	if r := (&readGate{}).reader(base, 0); hidden(r) || r != base {
		t.Fatal("a gate without hiding changed the reader")
	}
}
