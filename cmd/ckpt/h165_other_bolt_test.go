package main

import "testing"

// Another program's bbolt file said "not a ckpt store" twice: "x.db is
// not a ckpt store, or it is damaged (not a ckpt store (no format
// marker))". It says it once, with what such a file is likely to be.
func TestH165AnotherProgramsBoltFileSaysItOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := otherBolt(t, dir)
	for _, args := range [][]string{{"threads", p}, {"gc", p, "--keep-last", "1"}, {"recover", p}} {
		failsWith(t, runIn(t, dir, "", args...), 1, "ckpt: "+p+" is not a ckpt store (no format marker): another program's bbolt file, or a store whose marker is damaged\n")
	}
}
