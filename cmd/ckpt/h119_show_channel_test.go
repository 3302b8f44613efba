//go:build unix

package main

import (
	"strings"
	"testing"
)

// ckpt show --channel nope, on a checkpoint one of whose other channels
// ("note") is damaged, said only that channel "note" was damaged: the
// person who asked for "nope" read an error about another channel and
// not a word of theirs. The message names the channel asked for and says
// its presence is unknown because the checkpoint does not read whole.
func TestShowChannelOfADamagedCheckpointNamesTheChannelAskedFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Small(t, dir)
	h31DamageNote5(t, dir, func(v []byte) { v[len(v)-1] ^= 0x01 })
	r := h31Exec(t, dir, "show", "f.db", "a", "--channel", "nope")
	h31FailsOnDamage(t, r)
	if !strings.Contains(r.stderr, `channel "nope"`) || !strings.Contains(r.stderr, `channel "note"`) {
		t.Errorf("want the channel asked for (nope) and the damaged one (note) named:\n%s", r.stderr)
	}
}
