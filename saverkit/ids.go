package saverkit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDSource hands out checkpoint ids (ULIDs) that strictly increase within
// the process: ULID's monotonic entropy orders the ids of one millisecond,
// and a floor orders them when the clock steps back or when the store
// already holds newer ids (written by a machine whose clock was ahead).
// Across processes a store must still check that a new id sorts after the
// head it extends (Observe the head and draw again if not). It is safe for
// concurrent use.
type IDSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	last    ulid.ULID
}

// NewIDSource returns a source whose floor is the zero id.
func NewIDSource() *IDSource {
	return &IDSource{entropy: ulid.Monotonic(rand.Reader, 0)}
}

// Observe raises the floor to id, so every later Next is greater than it.
func (s *IDSource) Observe(id ulid.ULID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id.Compare(s.last) > 0 {
		s.last = id
	}
}

// ErrIDsExhausted is ckpt.ErrIDsExhausted: no new checkpoint id sorts
// after the newest one the store holds, the largest ULID. The error that
// wraps it wraps ErrInvalidConfig too (what it was before it had a name
// of its own).
var ErrIDsExhausted = errors.New("ckpt: no checkpoint id left")

// Next returns a new id for a checkpoint created at now, greater than
// every id this source returned or observed. When the floor is the
// largest ULID (a checkpoint put with the id 7ZZZZZZZZZZZZZZZZZZZZZZZZZ)
// no id is greater: ErrIDsExhausted, rather than an id that wrapped
// around to the smallest and sorts before every head it would extend.
func (s *IDSource) Next(now time.Time) (ulid.ULID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := ulid.New(ulid.Timestamp(now), s.entropy)
	if err != nil || id.Compare(s.last) <= 0 {
		// Entropy overflow within one millisecond, a clock that went back,
		// or newer ids already stored: step one past the last id.
		if s.last == maxID {
			return ulid.ULID{}, fmt.Errorf("%w (%w): no new checkpoint id sorts after %s, the largest ULID, which the store holds (a checkpoint put, imported or written with that id): nothing written", ErrIDsExhausted, ErrInvalidConfig, s.last)
		}
		id = s.last
		for i := len(id) - 1; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	s.last = id
	return id, nil
}

// maxID is the largest ULID, 7ZZZZZZZZZZZZZZZZZZZZZZZZZ: every byte 0xff.
var maxID = ulid.ULID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseID parses a checkpoint id (a ULID in its canonical 26-character
// form); what names the argument for the ErrInvalidConfig it returns.
func ParseID(what, s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return id, fmt.Errorf("%w: %s %q is not a ULID: %v", ErrInvalidConfig, what, s, err)
	}
	return id, nil
}
