package engine

import (
	"encoding/binary"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// What the root package's tests need to write logs by hand (damaged,
// skipping, or of the old format). Nothing else uses these.

// HeaderSize is the length of a log's header: an empty log's Offset.
const HeaderSize = logHeader

// AppendRecordForTest encodes one group's record chained to seed, as
// Append does, and returns the next record's seed.
func AppendRecordForTest(b []byte, id uint64, seed uint32, gen uint64, muts []Mutation) ([]byte, uint32) {
	return appendRecord(b, id, seed, gen, muts)
}

// LegacyRecordForTest encodes a record of the format before the log had a
// header: len u32 | crc32c(body) u32 | gen u64 | muts.
func LegacyRecordForTest(b []byte, gen uint64, muts []Mutation) []byte {
	body := binary.BigEndian.AppendUint64(nil, gen)
	body = appendMuts(body, muts)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// What the root package's tests need to reach into a running engine: they
// drive the checkpoint model through it and check the engine's state.
// Nothing else uses these.

// MaxUnapplied is the bound on logged bytes not yet applied (commit.go).
const MaxUnapplied = maxUnapplied

// StopApplierForTest stops the background applier for good: logged groups
// then stay in the log until the commit loop applies them itself.
func (e *Engine) StopApplierForTest() { e.wal.ap.Stop() }

// LockHandleForTest takes the handle's lock exclusively (a logging commit
// loop then stalls on its next group) until the returned func is called.
func (e *Engine) LockHandleForTest() (unlock func()) {
	e.dbMu.Lock()
	return e.dbMu.Unlock
}

// DBForTest returns the bbolt handle (tests write bbolt behind the
// engine's back); nothing may be running that swaps it.
func (e *Engine) DBForTest() *bolt.DB { return e.db }

// LogForTest returns the write-ahead log (nil without one).
func (e *Engine) LogForTest() *Log { return e.wal.log }
