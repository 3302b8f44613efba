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
	// (sumKeyed). These are what this build writes.
	checkpointRecordK = checkpointRecordX | sumKeyed
	metadataRecordK   = metadataRecordX | sumKeyed
	writeRecordK      = writeRecordX | sumKeyed
	writeRecordK4     = writeRecordX4 | sumKeyed
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

// sumLen is the size of the sum that ends every checksummed record.
const sumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sumOf computes the sum that record b (its version byte first, without
// its sum), stored under key, carries: by the version byte, XXH3 of key
// seeded with XXH3 of b (format 5), XXH3 of b (format 4) or CRC-32C of b
// (format 3); the last two ignore key. All truncated to 32 bits.
func sumOf(key, b []byte) uint32 {
	if len(b) == 0 || b[0]&sumXXH3 != sumXXH3 {
		return crc32.Checksum(b, castagnoli)
	}
	h := xxh3.Hash(b)
	if b[0]&sumKeyed == sumKeyed {
		h = xxh3.HashSeed(key, h)
	}
	return uint32(h)
}

// isVersion reports whether version is the format-3 checksummed version v
// or one of its twins of format 4 (v|sumXXH3) and 5 (v|sumXXH3|sumKeyed).
func isVersion(version, v byte) bool {
	return version == v || version == v|sumXXH3 || version == v|sumXXH3|sumKeyed
}

// appendSum appends the sum of b (the whole record so far, its version
// byte first) stored under key.
func appendSum(key, b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, sumOf(key, b))
}

// checkSum verifies the checksum at the end of a checksummed record read
// under key and returns the record without it.
func checkSum(kind string, key, b []byte) ([]byte, error) {
	if len(b) < 1+sumLen {
		return nil, fmt.Errorf("%w: %s record of %d bytes is too short for its checksum", ErrCorrupt, kind, len(b))
	}
	n := len(b) - sumLen
	if want, got := binary.LittleEndian.Uint32(b[n:]), sumOf(key, b[:n]); want != got {
		return nil, fmt.Errorf("%w: %s record checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, kind, want, got)
	}
	return b[:n], nil
}

// recordBody returns the body of a record read under key, of version old
// (no checksum) or sealed, sealed|sumXXH3 or sealed|sumXXH3|sumKeyed
// (checksum checked and cut off).
func recordBody(kind string, key, b []byte, old, sealed byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty %s record", ErrCorrupt, kind)
	}
	switch b[0] {
	case sealed, sealed | sumXXH3, sealed | sumXXH3 | sumKeyed:
		body, err := checkSum(kind, key, b)
		if err != nil {
			return nil, err
		}
		return body[1:], nil
	case old:
		return b[1:], nil
	}
	return nil, fmt.Errorf("%w: %s record version %d, this build reads %d, %d, %d and %d", ErrFormatVersion, kind, b[0], old, sealed, sealed|sumXXH3, sealed|sumXXH3|sumKeyed)
}

// sumUnder returns a copy of rec, a record this build just encoded under
// another key (or none), with its sum computed for key: Save encodes its
// metadata before the commit loop gives the checkpoint its id.
func sumUnder(key, rec []byte) []byte {
	n := len(rec) - sumLen
	return appendSum(key, append(make([]byte, 0, len(rec)), rec[:n]...))
}

// keyedSum returns record b, of a kind with a sum, to be stored under key
// with a sum that covers key: b itself when its sum covers its key already,
// else b with its version's sumXXH3 and sumKeyed bits set, the same body
// and a new sum, once its old sum (format 3 or 4, which ignores the key)
// checks out; b unchanged when it does not (its reads report it). For
// records copied in from elsewhere (Import), so every record it writes is
// checked against its key.
func keyedSum(key, b []byte) []byte {
	const keyed = sumXXH3 | sumKeyed
	if len(b) < 1+sumLen || b[0]&keyed == keyed {
		return b
	}
	body, err := checkSum("", key, b)
	if err != nil {
		return b
	}
	out := append(make([]byte, 0, len(b)), b[0]|keyed)
	return appendSum(key, append(out, body[1:]...))
}
