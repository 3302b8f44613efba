package web

import (
	"context"
	"testing"
	"time"
)

// Time a build declares notCharged (the stats figures, held to their own
// share by the stats cache) is left out of the pause after the build.
func TestGateLeavesOutWhatIsNotCharged(t *testing.T) {
	g, c := fakeGate(0.1)
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(100 * time.Millisecond)
	g.notCharged(80 * time.Millisecond)
	leave()
	build(t, g, c, 10*time.Millisecond)
	if len(c.sleeps) != 1 || c.sleeps[0] != 180*time.Millisecond {
		t.Fatalf("waits %v, want 180ms (9 x the 20 ms charged)", c.sleeps)
	}
	// The next build is charged in full again.
	build(t, g, c, 10*time.Millisecond)
	if len(c.sleeps) != 2 || c.sleeps[1] != 90*time.Millisecond {
		t.Fatalf("waits %v, want 180ms then 90ms", c.sleeps)
	}
}
