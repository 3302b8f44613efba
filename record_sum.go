package ckpt

// Checksums. bbolt keeps none, so a flipped bit in a data page used to read
// back as a wrong value with no error. Since format version 3 every record
// (checkpoint, metadata, pending write, channel value, list reference, list
// segment) ends with a 32-bit sum of all its bytes before it, the version
// byte included: [version][body][sum little-endian]. Every read checks it
// and a mismatch is ErrCorrupt; the caller names thread, checkpoint, channel
// and version. It guards against damage, not against an attacker. 4 bytes a
// record is small beside the ~40-byte keys.
//
// Which sum a record carries is said by its version byte (sumOf): format 3
// wrote CRC-32C (Castagnoli), format 4 the low 32 bits of XXH3-64
// (github.com/zeebo/xxh3), in the versions of format 3 with the two top bits
// set (sumXXH3). Why the change: a read of R1 checks about 26 records, most
// of them under 504 bytes, where Go's CRC-32C runs one dependent stream of
// crc32q (3 cycles of latency per 8 bytes) instead of its three-way loop;
// XXH3 hashes 30-700 bytes in about half the time and 4 KB in about a third
// (amd64 AVX2/SSE2 and arm64 NEON assembly for the long inputs, plain Go
// multiplies below 240 bytes). On R1 that took the checks from 4-8% of a
// read's CPU to 1-2% (bench/RESULTS.md, "Checksums: XXH3"). Truncated to 32
// bits, a random change goes unseen with probability 2^-32, as with a CRC;
// what XXH3 gives up is the CRC's certainty for bursts of up to 32 bits
// (caught with the same 2^-32 odds instead), not worth 3-5% of every read.
// Records of format 3 keep their CRC-32C and are read as they are.
//
// Format 5: the sum covers the record's bbolt key too (sumKeyed, two more
// bits of the version byte). A sum of the value alone let a flipped byte in
// a key in a leaf page read back as another record with no error (a pending
// write of a task never written, a checkpoint id never acknowledged). The
// keyed sum is XXH3-64 of the key seeded with XXH3-64 of the record:
// hash(key, seed=hash(record)). Why that order: the record (up to megabytes)
// is hashed exactly as in format 4, unseeded, at full speed, and only the
// key (tens of bytes) pays for the seed, which XXH3 mixes in on its short
// paths for free; seeding the record's hash with the key's instead makes
// XXH3 derive a seeded secret for every record over 240 bytes, and a
// streaming hasher over key||record costs its state. Each of key and record
// is covered by a full 64-bit hash before the truncation, so a change in
// either goes unseen with probability 2^-32, as before. Readers pass the key
// they read the record under (checkSum's key); records of formats 3 and 4
// keep their sums of the value alone and read as they are (the key is then
// not checked): an upgrade to 5 only moves the marker (upgrade.go).
//
// The checksummed record versions are chosen so that no single flipped bit
// of the version byte turns a checked record into an old, unchecked one
// (blob records skip version 3, one bit from both 1 and 2; the XXH3
// versions 0xc2 and 0xc4 are at least two bits from 1 and 2, the keyed
// 0xf2 and 0xf4 more), nor a keyed record into one of format 4 (two bits:
// a flip of one gives a version no build writes, ErrFormatVersion). Old
// versions are still read, for files written before format 3 (read-only
// opens, and the upgrade, which rewrites them: upgrade.go).
//
// Format 6: the sum covers the record's thread too (sumThreaded). A
// thread's id is the name of its bucket, a key in its parent's page that
// no sum covered, and the keys inside a thread (namespaces, ids) do not
// name it: a flipped byte in that name, or a damaged page id pointing at
// another thread's same-shaped page, read back another thread's records
// with every sum valid. The threaded sum seeds the key's hash with the
// record's hash XORed with the thread's seed (XXH3-64 of the thread id,
// threadSeed, computed once per call, not per record):
// hash(key, seed=hash(record)^threadSeed(thread)). A different thread
// changes the seed by a full 64-bit hash, so it goes unseen with
// probability 2^-32, as a changed key or record does. This follows the
// sealed records, whose AEAD binds thread and key (placeAAD, crypt.go).
// Readers pass the thread's seed beside the key; records of formats 3 to 5
// read as they are (their thread is then not checked), and every path that
// moves records to another thread checks them under the old one and sums
// them again under the new (rethreadRecord: CopyThread, Import).
// sumThreaded is a whole pattern of the five top bits, not a flag added to
// sumXXH3|sumKeyed: all three patterns are three bits apart, so one flipped
// bit of the version byte gives a version no build writes.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/zeebo/xxh3"
)

// Record versions, one per record kind (the blob and segment ones are in
// delta.go). The V1 records (and blob and segment records below format 3)
// carry no checksum.
const (
	checkpointRecordV1 byte = 1
	metadataRecordV1   byte = 1
	writeRecordV1      byte = 1
	blobRecordV1       byte = 1

	// Checksummed versions (format 3).
	checkpointRecordV2 byte = 2
	metadataRecordV2   byte = 2
	writeRecordV2      byte = 2

	// writeRecordV4 is a checksummed write record whose value is sealed
	// (Options.Encryption, crypt.go). 4, not 3: see blobRecordV3.
	writeRecordV4 byte = 4

	// Format 4: the same records with an XXH3 sum (sumXXH3).
	checkpointRecordX = checkpointRecordV2 | sumXXH3
	metadataRecordX   = metadataRecordV2 | sumXXH3
	writeRecordX      = writeRecordV2 | sumXXH3
	writeRecordX4     = writeRecordV4 | sumXXH3

	// Format 5: the same records with an XXH3 sum over key and record
	// (sumKeyed).
	checkpointRecordK = checkpointRecordX | sumKeyed
	metadataRecordK   = metadataRecordX | sumKeyed
	writeRecordK      = writeRecordX | sumKeyed
	writeRecordK4     = writeRecordX4 | sumKeyed

	// Format 6: the same records with an XXH3 sum over thread, key and
	// record (sumThreaded). These are what this build writes.
	checkpointRecordT = checkpointRecordV2 | sumThreaded
	metadataRecordT   = metadataRecordV2 | sumThreaded
	writeRecordT      = writeRecordV2 | sumThreaded
	writeRecordT4     = writeRecordV4 | sumThreaded
)

// sumXXH3, set in a record's version byte, says that the record's sum is
// XXH3 (format 4), not CRC-32C (format 3). Both bits: a single flipped bit
// of the version byte then gives a version no build writes
// (ErrFormatVersion, never a record read unchecked), and the sum covers the
// version byte, so one that still names a checked kind fails its check.
const sumXXH3 byte = 0xc0

// sumKeyed, set beside sumXXH3, says that the record's sum covers the key
// it is stored under (format 5). Two bits, for the same reason as sumXXH3.
const sumKeyed byte = 0x30

// sumThreaded, in place of sumXXH3|sumKeyed, says that the record's sum
// covers its thread too (format 6). 0x68 is three bits from each of 0x00
// (formats up to 3), sumXXH3 (0xc0) and sumXXH3|sumKeyed (0xf0).
const sumThreaded byte = 0x68

// sumMask covers the bits of a version byte that say which sum a record
// carries; the others are the format-3 version of its kind.
const sumMask byte = 0xf8

// threadSeed is what a record's sum (format 6) mixes in of its thread:
// XXH3-64 of the thread id (seedOf). A read or write computes it once for
// all the records of its thread.
type threadSeed uint64

// seedOf returns thread's seed for the record sums.
func seedOf(thread string) threadSeed { return threadSeed(xxh3.HashString(thread)) }

// sumLen is the size of the sum that ends every checksummed record.
const sumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sumOf computes the sum that record b (its version byte first, without
// its sum), stored under key in the thread of seed ts, carries: by the
// version byte, XXH3 of key seeded with XXH3 of b XOR ts (format 6), XXH3
// of key seeded with XXH3 of b (format 5), XXH3 of b (format 4) or CRC-32C
// of b (format 3); the older ones ignore ts, the last two key too. All
// truncated to 32 bits.
func sumOf(ts threadSeed, key, b []byte) uint32 {
	if len(b) == 0 {
		return crc32.Checksum(b, castagnoli)
	}
	switch b[0] & sumMask {
	case sumThreaded:
		return uint32(xxh3.HashSeed(key, xxh3.Hash(b)^uint64(ts)))
	case sumXXH3 | sumKeyed:
		return uint32(xxh3.HashSeed(key, xxh3.Hash(b)))
	case sumXXH3:
		return uint32(xxh3.Hash(b))
	}
	return crc32.Checksum(b, castagnoli)
}

// isVersion reports whether version is the format-3 checksummed version v
// or one of its twins of format 4 (v|sumXXH3), 5 (v|sumXXH3|sumKeyed) and
// 6 (v|sumThreaded).
func isVersion(version, v byte) bool {
	return version == v || version == v|sumXXH3 || version == v|sumXXH3|sumKeyed || version == v|sumThreaded
}

// appendSum appends the sum of b (the whole record so far, its version
// byte first) stored under key in the thread of seed ts.
func appendSum(ts threadSeed, key, b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, sumOf(ts, key, b))
}

// checkSum verifies the checksum at the end of a checksummed record read
// under key in the thread of seed ts and returns the record without it.
func checkSum(kind string, ts threadSeed, key, b []byte) ([]byte, error) {
	if len(b) < 1+sumLen {
		return nil, fmt.Errorf("%w: %s record of %d bytes is too short for its checksum", ErrCorrupt, kind, len(b))
	}
	n := len(b) - sumLen
	if want, got := binary.LittleEndian.Uint32(b[n:]), sumOf(ts, key, b[:n]); want != got {
		return nil, fmt.Errorf("%w: %s record checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, kind, want, got)
	}
	return b[:n], nil
}

// recordBody returns the body of a record read under key in the thread of
// seed ts, of version old (no checksum) or sealed or one of its twins of
// formats 4 to 6 (checksum checked and cut off).
func recordBody(kind string, ts threadSeed, key, b []byte, old, sealed byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty %s record", ErrCorrupt, kind)
	}
	switch b[0] {
	case sealed, sealed | sumXXH3, sealed | sumXXH3 | sumKeyed, sealed | sumThreaded:
		body, err := checkSum(kind, ts, key, b)
		if err != nil {
			return nil, err
		}
		return body[1:], nil
	case old:
		return b[1:], nil
	}
	return nil, errRecordVersion(kind, b[0], fmt.Sprintf("%d, %d, %d, %d and %d", old, sealed, sealed|sumXXH3, sealed|sumXXH3|sumKeyed, sealed|sumThreaded))
}

// recordVersionError is a record whose version byte this build does not
// know. Either a later build wrote it (ErrFormatVersion: a record's shape
// may change without a new file format) or the byte is damaged
// (ErrCorrupt): from the byte alone no reader can tell, so it is both, and
// its message says both. Said as a format version only, a flipped version
// byte sent the user looking for a newer build ('ckpt stats' printed
// "unknown format version: blob record version 217") where 'ckpt verify'
// was the way on.
type recordVersionError struct {
	kind    string
	version byte
	reads   string
}

func errRecordVersion(kind string, version byte, reads string) error {
	return &recordVersionError{kind, version, reads}
}

func (e *recordVersionError) Error() string {
	return fmt.Sprintf("ckpt: %s record of unknown version %d (this build reads %s): the record is damaged, or a later build wrote it", e.kind, e.version, e.reads)
}

func (e *recordVersionError) Is(target error) bool {
	return target == ErrCorrupt || target == ErrFormatVersion
}

// sumUnder returns a copy of rec, a record this build just encoded under
// another key (or none), with its sum computed for key in the thread of
// seed ts: Save encodes its metadata before the commit loop gives the
// checkpoint its id.
func sumUnder(ts threadSeed, key, rec []byte) []byte {
	n := len(rec) - sumLen
	return appendSum(ts, key, append(make([]byte, 0, len(rec)), rec[:n]...))
}

// rethreadRecord returns record b, of a kind with a sum, read under key in
// the thread of seed from, to be stored under key in the thread of seed to
// with a sum that covers key and thread: b with its version's sum bits set
// to sumThreaded, the same body and a new sum, once its old sum (of any
// format: one of format 6 checked under from) checks out; b unchanged when
// it does not (its reads report it, under either thread). For records
// copied in from elsewhere (Import, from == to) or moved to another thread
// (CopyThread), so every record they write is checked against its key and
// its thread.
func rethreadRecord(from, to threadSeed, key, b []byte) []byte {
	if len(b) < 1+sumLen || b[0]&sumMask == sumThreaded && from == to {
		return b
	}
	body, err := checkSum("", from, key, b)
	if err != nil {
		return b
	}
	out := append(make([]byte, 0, len(b)), b[0]&^sumMask|sumThreaded)
	return appendSum(to, key, append(out, body[1:]...))
}
