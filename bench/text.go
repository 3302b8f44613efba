package main

// Deterministic input, byte for byte the same as the peer harness's
// (shared/peers/langgraphjs/bench.mjs, "Text generator" in its README):
// the same text and the same R2 picks, so both sides do the same work.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// golden seeds the generator (and replaces a zero state).
const golden = 0x9E3779B97F4A7C15

// rngInit returns the generator state for seed.
func rngInit(seed uint64) uint64 {
	x := seed ^ golden
	if x == 0 {
		x = golden
	}
	return x
}

// rngNext advances xorshift64 (Marsaglia 13/7/17).
func rngNext(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// text returns n bytes of lowercase words: each 5-bit chunk of the state
// (low bits first, 12 chunks per state) is a letter when < 26, otherwise a
// space, never leading and never doubled.
func text(seed uint64, n int) string {
	out := make([]byte, 0, n)
	x := rngInit(seed)
	for len(out) < n {
		x = rngNext(x)
		for i := 0; i < 12 && len(out) < n; i++ {
			c := byte((x >> (5 * i)) & 31)
			switch {
			case c < 26:
				out = append(out, 'a'+c)
			case len(out) > 0 && out[len(out)-1] != ' ':
				out = append(out, ' ')
			}
		}
	}
	return string(out)
}

// message is one chat message, the element of the messages channel. The
// json tags are the field names the peer stores (the store's encoder
// honours json tags).
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// w1Input is the generated W1 input: every message of every thread, each
// thread's context text, and the R2 picks. It is built before any timed
// section.
type w1Input struct {
	T, S, P, C int
	msgs       [][]message // msgs[t][s]
	ctx        []string    // ctx[t]
	picks      [][2]int    // R2: (thread, step)
}

// msgSeed is the seed of the message of (thread, step), as in the peer.
func msgSeed(t, s int) uint64 { return uint64(t)*1_000_003 + uint64(s) }

// role is the role of the message appended at step s.
func role(s int) string {
	if s%2 == 0 {
		return "user"
	}
	return "assistant"
}

// buildW1Input generates the input of T threads by S steps with P-byte
// messages and C-byte contexts, and nPicks R2 picks.
func buildW1Input(T, S, P, C, nPicks int) *w1Input {
	in := &w1Input{T: T, S: S, P: P, C: C, msgs: make([][]message, T), ctx: make([]string, T)}
	for t := range T {
		in.ctx[t] = text(uint64(t), C)
		in.msgs[t] = make([]message, S)
		for s := range S {
			in.msgs[t][s] = message{Role: role(s), Content: text(msgSeed(t, s), P)}
		}
	}
	in.picks = r2Picks(T, S, nPicks)
	return in
}

// r2Picks draws n random (thread, step) pairs as the peer does:
// x = init(42); n times x = next(x), k = x mod (T*S).
func r2Picks(T, S, n int) [][2]int {
	picks := make([][2]int, n)
	x := rngInit(42)
	total := uint64(T * S)
	for i := range picks {
		x = rngNext(x)
		k := int(x % total)
		picks[i] = [2]int{k / S, k % S}
	}
	return picks
}

// checksum is the sha256 of the generated input, computed the same way by
// bench/peer_checksum.mjs from the peer's own text function: for each
// thread, its context then its S message contents; then every R2 pick as
// "thread,step\n". Roles and the rest of a step follow from the step number.
func (in *w1Input) checksum() string {
	h := sha256.New()
	for t := range in.T {
		h.Write([]byte(in.ctx[t]))
		for s := range in.S {
			h.Write([]byte(in.msgs[t][s].Content))
		}
	}
	for _, p := range in.picks {
		fmt.Fprintf(h, "%d,%d\n", p[0], p[1])
	}
	return hex.EncodeToString(h.Sum(nil))
}
