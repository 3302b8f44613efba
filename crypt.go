package ckpt

// Encryption at rest (Options.Encryption).
//
// What is sealed: the user's data, i.e. channel values (blob records of
// kind value), list segments (the items of append-deltas) and the values
// of pending writes. Each is sealed with AES-256-GCM into an envelope
// [key id uvarint][nonce 12][ciphertext+tag 16] inside the usual record
// framing, so the checksum stays on the outer record: a flipped bit is
// ErrCorrupt, while a record whose checksum is right but that does not open
// is a *KeyError (wrong or missing key), two different problems.
//
// What stays readable, and why: thread ids, namespaces, checkpoint ids,
// channel names and versions (they are the bucket keys every lookup, List
// order and retention run on), checkpoint headers (parent, versions) and
// metadata (List's metadata filter runs inside the read transaction over
// every checkpoint; sealing it would make each List decrypt every record it
// skips), pending writes' channel and task path, and list references
// (lineage, count). Apps must not put secrets in metadata or names.
//
// Binding: the additional data of every seal is the record's place (kind,
// thread, and its bucket key: namespace, channel and version for a value;
// namespace, channel, lineage and first item for a segment; namespace,
// checkpoint, task and index for a pending write), so a sealed record
// copied to another place fails to open instead of reading as another
// value.
//
// Nonces are 96 random bits from crypto/rand per seal. With random nonces
// GCM stays within its bounds (collision chance below 2^-32) for up to
// 2^32 seals under one key; a store sealing 100 records a second for a
// year seals ~2^31.6. Rotate (add a new first key and run Rekey) long
// before that. Deriving nonces from a counter would need the counter to
// survive crashes and copies of the file, which random nonces do not.
//
// Sharing: a version is stored once and shared by later checkpoints, and
// lists grow by appended segments; both compare the logical (opened)
// content, since the sealed bytes of equal values differ.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Key is one AES-256 key. ID names it in the file (the key itself is never
// stored): pick a new id for every new key.
type Key struct {
	ID     uint32
	Secret [32]byte
}

// Encryption lists the keys of an encrypted store. Keys[0] is the newest:
// it seals everything written; every listed key opens what it sealed.
// Rotate by putting a new key first and keeping the old ones until
// Store.Rekey has re-sealed the file under the new key.
type Encryption struct {
	Keys []Key
}

// KeyError is a sealed record that could not be opened: its key is not
// among Options.Encryption's keys (Missing), or the key with its id does
// not open it (a wrong key under that id, or a record moved elsewhere).
// errors.Is(err, ErrKey) holds.
type KeyError struct {
	ID      uint32
	Missing bool
}

func (e *KeyError) Error() string {
	if e.Missing {
		return fmt.Sprintf("%v: key %d is not among the keys given", ErrKey, e.ID)
	}
	return fmt.Sprintf("%v: key %d does not open the record (wrong key, or the record was moved)", ErrKey, e.ID)
}

// Is makes errors.Is(err, ErrKey) true.
func (e *KeyError) Is(target error) bool { return target == ErrKey }

// sealOverhead is what sealing adds to a record at most.
const sealOverhead = binary.MaxVarintLen32 + nonceLen + 16

const nonceLen = 12

// keyring holds the AEADs of Options.Encryption. A nil *keyring is a store
// without encryption: it seals nothing and opens nothing.
type keyring struct {
	sealID uint32
	seal   cipher.AEAD
	byID   map[uint32]cipher.AEAD
}

func newKeyring(e *Encryption) (*keyring, error) {
	if e == nil {
		return nil, nil
	}
	if len(e.Keys) == 0 {
		return nil, errors.New("ckpt: Options.Encryption has no keys")
	}
	kr := &keyring{byID: make(map[uint32]cipher.AEAD, len(e.Keys))}
	for i, k := range e.Keys {
		if _, dup := kr.byID[k.ID]; dup {
			return nil, fmt.Errorf("ckpt: Options.Encryption lists key id %d twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret[:])
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		kr.byID[k.ID] = g
		if i == 0 {
			kr.sealID, kr.seal = k.ID, g
		}
	}
	return kr, nil
}

// Kinds of sealed record, first byte of the additional data.
const (
	aadBlob    byte = 'b'
	aadSegment byte = 's'
	aadWrite   byte = 'w'
)

// placeAAD is the additional data binding a sealed record to its place.
func placeAAD(kind byte, thread string, key []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(thread)+len(key))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(thread)))
	b = append(b, thread...)
	return append(b, key...)
}

// appendSealed appends the envelope of plain under the newest key to dst.
func (kr *keyring) appendSealed(dst, plain, aad []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(kr.sealID))
	n := len(dst)
	dst = append(dst, make([]byte, nonceLen)...)
	// crypto/rand.Read never fails (Go 1.24+: it crashes the program
	// rather than return predictable bytes).
	_, _ = rand.Read(dst[n:])
	return kr.seal.Seal(dst, dst[n:n+nonceLen], plain, aad)
}

// envelopeKey returns the key id of an envelope.
func envelopeKey(env []byte) (uint32, error) {
	id, n := binary.Uvarint(env)
	if n <= 0 || id > 1<<32-1 || len(env)-n < nonceLen+16 {
		return 0, fmt.Errorf("%w: sealed record envelope", ErrCorrupt)
	}
	return uint32(id), nil
}

// open opens an envelope sealed for aad. A nil keyring has no keys.
func (kr *keyring) open(env, aad []byte) ([]byte, error) {
	id, err := envelopeKey(env)
	if err != nil {
		return nil, err
	}
	var g cipher.AEAD
	if kr != nil {
		g = kr.byID[id]
	}
	if g == nil {
		return nil, &KeyError{ID: id, Missing: true}
	}
	n := uvarintLen(env)
	plain, err := g.Open(nil, env[n:n+nonceLen], env[n+nonceLen:], aad)
	if err != nil {
		return nil, &KeyError{ID: id}
	}
	return plain, nil
}

func uvarintLen(b []byte) int {
	_, n := binary.Uvarint(b)
	return n
}

// lockedPrefix starts a locked Raw: 0xc1, a byte msgpack never uses, so no
// stored value starts with it, then a magic string, so a damaged value
// that happens to start with 0xc1 is still reported as damage.
var lockedPrefix = []byte("\xc1ckpt-sealed:")

// lockedRaw stands for a sealed value read from a store opened without
// Options.Encryption: List and GetTuple still give ids, metadata and
// versions, and decoding the value gives the *KeyError naming the key.
func lockedRaw(id uint32) Raw {
	return binary.AppendUvarint(bytes.Clone(lockedPrefix), uint64(id))
}

// lockedKey returns the *KeyError of a locked Raw, or nil for any other.
func lockedKey(r Raw) error {
	if !bytes.HasPrefix(r, lockedPrefix) {
		return nil
	}
	id, n := binary.Uvarint(r[len(lockedPrefix):])
	if n <= 0 || id > 1<<32-1 || len(lockedPrefix)+n != len(r) {
		return nil
	}
	return &KeyError{ID: uint32(id), Missing: true}
}

// lockIfNoKeys turns a missing-key error into a locked value when the
// store has no keys at all (kr nil), so listings still work.
func lockIfNoKeys(kr *keyring, v Raw, err error) (Raw, error) {
	if err == nil || kr != nil { // the common case, without errors.As's allocation
		return v, err
	}
	if ke, ok := errors.AsType[*KeyError](err); ok && ke.Missing {
		return lockedRaw(ke.ID), nil
	}
	return v, err
}

// current reports whether env is sealed under the newest key.
func (kr *keyring) current(env []byte) bool {
	id, err := envelopeKey(env)
	return err == nil && id == kr.sealID
}

// The store's encryption marker (meta "sealed-keys", keySealedKeys).
//
// Why: a handle opened without Options.Encryption reads an encrypted file
// (ids, metadata, versions), and if it could also write, it would store new
// values plain beside the sealed ones, so a copy of the file would give
// away everything written through it. So the file records that it is
// encrypted, and a keyless handle refuses every write that would store a
// value or a pending write (refusePlain), while deletes, GC and Compact,
// which store no plaintext, go on.
//
// What: the ids of the keys the file's sealed records are under (never the
// keys), as a version byte then uint32 big-endian ids, ascending. A marker
// with no ids says "checked: nothing sealed".
//
// When it is written, so that it is in the file before any sealed record
// it vouches for:
//   - a keyed read-write Open adds its sealing key's id before Open
//     returns (a synced write), so every record that handle seals is
//     written after the marker;
//   - an import adds the ids of the sealed records it copies in, in the
//     same transaction (a dump of an encrypted store holds sealed records);
//   - Rekey, once it has re-sealed everything, drops the ids it re-sealed
//     away from.
//
// A file encrypted before the marker existed has none: the first
// read-write Open of this build (with or without keys) looks at every
// value, segment and pending write once (a first-byte check each; sealed
// ones give their key id) and writes the marker it finds, "nothing sealed"
// included, so that scan runs once per file, not once per Open. Builds
// before the marker ignore it: a file written by such a build after this
// one marked it "nothing sealed" is not rescanned (use one build on a file
// that holds user data, as with the log).

const sealedKeysV1 byte = 1

func encodeSealedKeys(ids []uint32) []byte {
	b := make([]byte, 1, 1+4*len(ids))
	b[0] = sealedKeysV1
	for _, id := range ids {
		b = binary.BigEndian.AppendUint32(b, id)
	}
	return b
}

// decodeSealedKeys reads a marker; ok is false when there is none.
func decodeSealedKeys(v []byte) (ids []uint32, ok bool, err error) {
	if v == nil {
		return nil, false, nil
	}
	if len(v) < 1 || v[0] != sealedKeysV1 || (len(v)-1)%4 != 0 {
		return nil, false, fmt.Errorf("%w: the encryption marker (meta %q)", ErrCorrupt, keySealedKeys)
	}
	for b := v[1:]; len(b) > 0; b = b[4:] {
		ids = append(ids, binary.BigEndian.Uint32(b))
	}
	return ids, true, nil
}

// withID returns ids (ascending) with id added, and whether it was new.
func withID(ids []uint32, id uint32) ([]uint32, bool) {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids, false
	}
	return slices.Insert(slices.Clone(ids), i, id), true
}

// sealedKeyOf returns the key id of record v at key k of thread
// sub-bucket sub (ts is the thread's seed), and whether it is sealed.
func sealedKeyOf(ts threadSeed, sub, k, v []byte) (uint32, bool, error) {
	if !isSealedRecord(sub, v) {
		return 0, false, nil
	}
	var env []byte
	switch {
	case bytes.Equal(sub, bucketBlobs):
		_, body, err := blobKind(ts, k, v)
		if err != nil {
			return 0, false, err
		}
		env = body
	case bytes.Equal(sub, bucketSegments):
		seg, err := decodeSegment(ts, k, v)
		if err != nil {
			return 0, false, err
		}
		env = seg.items
	default:
		rec, err := decodeWriteRecord(ts, k, v)
		if err != nil {
			return 0, false, err
		}
		env = rec.sealed
	}
	id, err := envelopeKey(env)
	return id, err == nil, err
}

// scanSealedKeys finds the key ids of every sealed record in the file. A
// damaged record is skipped, not an error: it must not keep the store from
// opening (Verify reports it), and the other sealed records name the keys.
func scanSealedKeys(ctx context.Context, r reader) ([]uint32, error) {
	var ids []uint32
	err := r.Buckets(threadsRoot, nil, func(name []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ts := seedOf(string(name))
		for _, sub := range [][]byte{bucketBlobs, bucketSegments, bucketWrites} {
			err := r.Scan(threadPath(string(name), sub), nil, nil, false, func(k, v []byte) error {
				if id, sealed, err := sealedKeyOf(ts, sub, k, v); err == nil && sealed {
					ids, _ = withID(ids, id)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// SealedKeys returns the ids of the keys the store's values and pending
// writes are sealed under, ascending; none when the store is not
// encrypted. It needs no key and reads no value: it reads the store's
// encryption marker, or, where there is none (a file encrypted before the
// marker, opened read-only) or it is damaged, looks at the first byte of
// every value, segment and pending write, as the first read-write Open of
// such a file does.
func (s *Store) SealedKeys(ctx context.Context) ([]uint32, error) {
	var ids []uint32
	err := s.view(ctx, func(r reader) (err error) {
		ids, err = sealedKeysIn(ctx, r)
		return err
	})
	return ids, err
}

// sealedKeysIn is SealedKeys in a read transaction.
func sealedKeysIn(ctx context.Context, r reader) ([]uint32, error) {
	if ids, have, err := decodeSealedKeys(r.Get(bucketPath{bucketMeta}, keySealedKeys)); err == nil && have {
		return ids, nil
	}
	return scanSealedKeys(ctx, r)
}

// markEncryption runs in a read-write Open (recoverOnOpen): it reads the
// marker (scanning the file once if there is none), adds a keyed handle's
// sealing key, writes it back if it changed, and keeps it for refusePlain.
func (s *Store) markEncryption(ctx context.Context) error {
	var ids []uint32
	var have bool
	if err := s.view(ctx, func(r reader) (err error) {
		if ids, have, err = decodeSealedKeys(r.Get(bucketPath{bucketMeta}, keySealedKeys)); err != nil || have {
			return err
		}
		ids, err = scanSealedKeys(ctx, r)
		return err
	}); err != nil {
		return fmt.Errorf("encryption marker: %w", err)
	}
	changed := !have
	if s.keys != nil {
		var added bool
		ids, added = withID(ids, s.keys.sealID)
		changed = changed || added
	}
	if changed {
		// Synced: the marker is on disk before anything it vouches for.
		err := s.write(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), func(w writer) error {
			return w.Put(bucketPath{bucketMeta}, keySealedKeys, encodeSealedKeys(ids))
		})
		if err != nil {
			return fmt.Errorf("encryption marker: %w", err)
		}
	}
	s.noteSealed(ids)
	return nil
}

// noteSealed keeps the key ids the file's sealed records are under.
func (s *Store) noteSealed(ids []uint32) {
	if len(ids) > 0 {
		s.sealedKeys.Store(&ids)
	}
}

// refusePlain is the error of a write that would store a value or a pending
// write through a handle without keys on an encrypted store: it would be
// stored plain.
func (s *Store) refusePlain() error {
	if s.keys != nil {
		return nil
	}
	p := s.sealedKeys.Load()
	if p == nil {
		return nil
	}
	ids := make([]string, len(*p))
	for i, id := range *p {
		ids[i] = strconv.FormatUint(uint64(id), 10)
	}
	return fmt.Errorf("%w: the store is encrypted (key ids %s): open it with its keys to write", ErrKey, strings.Join(ids, ", "))
}
