package ckpt

import (
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

func (s *idSource) next(now time.Time) ulid.ULID { return s.kit.Next(now) }

// parseID parses a checkpoint id; what names the field for the error.
func parseID(what, s string) ([idLen]byte, error) {
	id, err := saverkit.ParseID(what, s)
	return [idLen]byte(id), err
}

func idString(id [idLen]byte) string { return ulid.ULID(id).String() }
