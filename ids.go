package ckpt

import (
	"context"
	"time"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/oklog/ulid/v2"
)

// idSource hands out checkpoint ids that strictly increase within the
// process; the rule is saverkit.IDSource, shared with every Saver. This
// thin wrapper keeps the store's [idLen]byte ids at its call sites.
type idSource struct{ kit *saverkit.IDSource }

func newIDSource() *idSource { return &idSource{kit: saverkit.NewIDSource()} }

// observe raises the floor to id.
func (s *idSource) observe(id [idLen]byte) { s.kit.Observe(ulid.ULID(id)) }

func (s *idSource) next(now time.Time) ([idLen]byte, error) {
	id, err := s.kit.Next(now)
	return [idLen]byte(id), err
}

// parseID parses a checkpoint id; what names the field for the error.
func parseID(what, s string) ([idLen]byte, error) {
	id, err := saverkit.ParseID(what, s)
	return [idLen]byte(id), err
}

func idString(id [idLen]byte) string { return ulid.ULID(id).String() }

// seedIDs makes new ids sort after the newest stored one. A read-only
// store makes none and skips the walk, which a key out of order in the
// last index page ends with ErrCorrupt (a scan checks each key's
// successor): its Open reads a damaged file as far as it can.
func (s *Store) seedIDs() error {
	if s.readOnly {
		return nil
	}
	return s.view(context.Background(), func(r reader) error {
		return r.Scan(bucketPath{bucketIndex}, nil, nil, true, func(k, _ []byte) error {
			if len(k) >= idLen {
				s.ids.observe([idLen]byte(k[:idLen]))
			}
			return errStop
		})
	})
}
