package ckpt

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource hands out checkpoint ids that strictly increase within the
// process: ULID's monotonic entropy orders ids of one millisecond, and the
// floor below orders them when the clock steps back or when the file
// already holds newer ids (written by a machine whose clock was ahead).
type idSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	last    ulid.ULID
}

func newIDSource() *idSource {
	return &idSource{entropy: ulid.Monotonic(rand.Reader, 0)}
}

// observe raises the floor to id.
func (s *idSource) observe(id [idLen]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Compare(id[:], s.last[:]) > 0 {
		s.last = id
	}
}

func (s *idSource) next(now time.Time) ulid.ULID {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := ulid.New(ulid.Timestamp(now), s.entropy)
	if err != nil || id.Compare(s.last) <= 0 {
		// Entropy overflow within one millisecond, a clock that went back,
		// or newer ids already stored: step one past the last id.
		id = s.last
		for i := idLen - 1; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	s.last = id
	return id
}

// parseID parses a checkpoint id; what names the field for the error.
func parseID(what, s string) ([idLen]byte, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return id, fmt.Errorf("%w: %s %q is not a ULID: %v", ErrInvalidConfig, what, s, err)
	}
	return id, nil
}

func idString(id [idLen]byte) string { return ulid.ULID(id).String() }
