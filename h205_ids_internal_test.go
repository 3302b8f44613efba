package ckpt

import "github.com/oklog/ulid/v2"

// mustID is an id drawn for a test from a source far from the largest
// ULID, where Next cannot fail (saverkit.IDSource.Next).
func mustID(id ulid.ULID, err error) ulid.ULID {
	if err != nil {
		panic(err)
	}
	return id
}
