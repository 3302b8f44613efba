package ckpt

// This file is the only place that knows bucket names and key bytes. Every
// other file asks it for keys and bucket paths, so the on-disk layout can be
// read, reviewed and changed in one place.
//
// Layout (format version 8; the bucket and key layout has not changed
// since 2, format 7 gave ids/ its values and added dir/, format 8 lists
// namespaces in dir/):
//
//	meta/                      "format" -> uint32 big-endian format version
//	                           "format-sum" -> CRC-32C of "format" and
//	                           the marker's 4 bytes (uint32 big-endian),
//	                           written with the marker: a flipped byte of
//	                           the marker that still names a format this
//	                           build reads would read the file as older
//	                           (its reads and Verify skipping the checks of
//	                           the newer formats, a read-write Open
//	                           recounting its tallies and relisting its
//	                           namespaces over any other damage); a marker
//	                           that disagrees with it is ErrCorrupt. Added
//	                           without a new format version: a file without
//	                           it (written before it) opens as before, and a
//	                           read-write Open of one writes it
//	                           "wal-applied" -> uint64 big-endian: the last
//	                           group of the write-ahead log bbolt holds
//	                           "wal-log" -> the identity of the log the
//	                           file is bound to | wal-applied when written
//	                           (uint64s big-endian) | CRC-32C of the two
//	                           (uint32 big-endian), written with every
//	                           mark (Open refuses a log of another
//	                           identity, or a mark that disagrees with it);
//	                           added without a new format version
//	                           "wal-live" -> the identity of the log a
//	                           read-write Open made (uint64 big-endian):
//	                           set with the binding, deleted by a clean
//	                           Close before the log goes; Open refuses a
//	                           file that has it and no log (engine.Mark.Live);
//	                           added without a new format version (a file
//	                           without it opens as before)
//	                           "sealed-keys" -> the ids of the keys sealed
//	                           records are under (crypt.go); added without
//	                           a new format version
//	                           "swap-unsynced" -> 1 byte: the file was
//	                           renamed into place by a Compact whose
//	                           fsync of the directory failed (the next
//	                           read-write Open compacts again); added
//	                           without a new format version
//	                           "imports" -> the unfinished imports: a
//	                           version byte, per import id(16) | number
//	                           of threads marked (uint32) | len16(first
//	                           thread) | first thread, and a CRC-32C of
//	                           all before it (import_marks.go): written
//	                           with the marks, deleted with the last;
//	                           added without a new format version
//	index/                     id(16) | len16(thread) | thread | ns -> ""
//	                           global time order of every checkpoint: serves
//	                           listing across threads and age-based retention
//	                           without opening every thread.
//	threads/<thread id>/       one bucket per thread, so a thread is deleted
//	                           by dropping one bucket.
//	    cp/                    nsKey | id(16) -> checkpoint record
//	    md/                    nsKey | id(16) -> metadata record
//	    wr/                    nsKey | id(16) | len16(task) | task | idx(4)
//	                           -> pending write record
//	    bl/                    nsKey | len16(channel) | channel | version
//	                           -> blob record (one channel value)
//	    ids/                   id(16) | ns -> "" or write tally record: the
//	                           thread's history across namespaces in id
//	                           order; the value, once the checkpoint has
//	                           pending writes, counts them (write_tally.go)
//	    ls/                    nsKey | len16(channel) | lineage(8) | start(4)
//	                           -> list segment record: items [start, start+n)
//	                           of one list lineage (append-deltas, delta.go);
//	                           the bucket's sequence numbers lineages
//	dir/                       len16(thread) | thread -> ""
//	                           the directory of threads: every thread that
//	                           has a bucket under threads/. Written in the
//	                           transaction that creates the thread's bucket
//	                           (its first checkpoint: Put, Save, PutFull,
//	                           CopyThread's destination, Import), deleted in
//	                           the one that drops it (dropThread). A read
//	                           that finds no checkpoint looks here: a thread
//	                           listed while its bucket is not found had its
//	                           checkpoints hidden by damage (a flipped byte of
//	                           its name in the threads bucket's page, a
//	                           damaged branch page), ErrCorrupt, not a thread
//	                           never written (thread_dir.go). The len16
//	                           prefix keeps the key apart from the bucket's
//	                           name in the file. Format 7; the upgrade builds
//	                           it for every thread.
//	                           len16(thread) | thread | len16(ns) | ns -> ""
//	                           every namespace of the thread that holds a
//	                           checkpoint (format 8): written in the
//	                           transaction that writes the namespace's first
//	                           checkpoint (a Put or Save without a parent,
//	                           CopyThread, Import), deleted in the one that
//	                           deletes its last (retention: dropCheckpoint)
//	                           or drops the thread. A read that finds no
//	                           checkpoint of a namespace listed here had it
//	                           hidden by damage (its cp/ and md/ keys or
//	                           pages): ErrCorrupt, not a namespace never
//	                           written. The thread's own key is the prefix
//	                           of its namespaces' keys, so one reverse seek
//	                           tells a namespace listed, a thread listed and
//	                           a thread unknown apart.
//	sweep/                     len16(thread) | thread | ns -> 0x01
//	                           namespaces where retention deleted checkpoints
//	                           and has not yet deleted the blobs they alone
//	                           used; written in the deleting transaction,
//	                           removed with the sweep's last deletions, so a
//	                           run that dies in between is finished by the
//	                           next. (Added without a new format version:
//	                           builds that do not know it ignore it.)
//
//	imports/<import id(16)>/   thread -> CRC-32C(import id | thread)
//	                           (uint32; "" from a build before it):
//	                           threads an import created and
//	                           has not yet published: written in the same
//	                           transaction as the thread's first records,
//	                           dropped in one transaction when the import
//	                           ends well. A read-write Open deletes the
//	                           threads of any import left here (import.go);
//	                           marks that disagree with their sums or with
//	                           meta/"imports" are ErrCorrupt (import_marks.go).
//
// Format version 2 added ls/ and list-reference blobs. Format version 3
// ends every record in cp/, md/, wr/, bl/ and ls/ with a CRC-32C checksum
// (record_sum.go). Format version 4 writes new records with an XXH3 sum
// instead, said by their version byte (sumXXH3). Format version 5 writes
// new records with a sum that covers the record's key too (sumKeyed), so
// a changed key byte is not read as another record. Format version 6
// writes new records with a sum that covers their thread as well
// (sumThreaded): the thread id is the name of the thread's bucket, a key
// in the threads bucket's page, and nothing inside the thread names it, so
// a changed byte of that name or a damaged page id pointing at another
// thread's pages read back another thread's records. Format version 7
// stores a tally of each checkpoint's pending writes as the value of its
// history-order entry, and every read of the writes checks it, so a write
// hidden by a damaged key or page is ErrCorrupt instead of a write never
// made (write_tally.go); it also lists every thread in dir/, so a thread
// whose bucket damage hides is ErrCorrupt instead of a thread never
// written (thread_dir.go). Format version 8 lists every namespace of a
// thread in dir/ too, so a namespace whose records damage hides is
// ErrCorrupt instead of a namespace never written (thread_dir.go). Each
// format reads the records of the ones before as they are, so a file of
// format 3 to 7 needs only its tallies counted and stored, its threads
// and namespaces listed in dir/ and its marker moved; a build of an older
// format refuses a newer file (ErrFormatVersion) instead of reading its new
// records as unknown or writing pending writes its tallies do not count. A
// file of format 1 or 2 is read as is when opened read-only (its records
// have no checksums to check), and one of format 6 or before opened
// read-only is read without tallies, one of format 7 or before without
// its namespaces' entries (a build of format 7 neither writes nor deletes
// them); a read-write Open upgrades it in place to 8 (upgrade.go) before
// it returns.
//
// Beside the file, while a store is open, is its write-ahead log: the path
// plus "-wal" (walSuffix), records described in internal/engine/wal.go. A clean Close
// applies it and removes it; Open replays what a crash left in it. Builds
// before the log ignore that file, so open a file that crashed with this
// build once with this build.
//
// nsKey is len16(ns) | ns. Length prefixes keep composite keys unambiguous
// and keep every key of one namespace (or one checkpoint) contiguous, so a
// prefix seek finds them. Checkpoint ids are ULIDs stored as their 16 raw
// bytes, which sort in creation order. Pending write indexes are stored with
// the sign bit flipped so that the special negative indexes sort first.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
)

// walSuffix names the write-ahead log beside the store file.
const walSuffix = "-wal"

// formatVersion is the version of the layout above. Opening a file written
// with a newer version is ErrFormatVersion; older ones (down to
// minFormatVersion) are read and upgraded in place.
const (
	formatVersion    uint32 = 8
	minFormatVersion uint32 = 1
)

// Limits on the names that become parts of keys. bbolt keys are at most
// 32 KiB; these limits keep every composite key well inside that.
// They are saverkit's, so every Saver accepts the same names.
const (
	// MaxThreadIDLen is the longest thread id accepted: 1,024 bytes.
	MaxThreadIDLen = saverkit.MaxThreadIDLen
	// MaxNamespaceLen is the longest checkpoint namespace accepted: 1,024 bytes.
	MaxNamespaceLen = saverkit.MaxNamespaceLen
	// MaxNameLen is the longest channel name, task id or version accepted:
	// 1,024 bytes.
	MaxNameLen = saverkit.MaxNameLen
)

var (
	bucketMeta    = []byte("meta")
	bucketIndex   = []byte("index")
	bucketThreads = []byte("threads")
	bucketSweep   = []byte("sweep")
	bucketImports = []byte("imports")
	bucketDir     = []byte("dir")

	bucketCheckpoints = []byte("cp")
	bucketMetadata    = []byte("md")
	bucketWrites      = []byte("wr")
	bucketBlobs       = []byte("bl")
	bucketOrder       = []byte("ids")
	bucketSegments    = []byte("ls")

	keyFormat = []byte("format")
	// keyFormatSum is the format marker's checksum (formatSum), written
	// with it. Added without a new format version.
	keyFormatSum = []byte("format-sum")
	// keyWALApplied holds, as a uint64 big-endian, the last group of the
	// write-ahead log (internal/engine/wal.go) that bbolt holds.
	keyWALApplied = []byte("wal-applied")
	// keyWALLog binds the file to its write-ahead log: the log's identity
	// and the wal-applied group when written, each a uint64 big-endian,
	// and their CRC-32C (engine.Mark.Log). Added without a new format
	// version.
	keyWALLog = []byte("wal-log")
	// keyWALLive says a log is live beside the file: the identity of the
	// log a read-write Open made, from the commit that binds it to the
	// clean Close's last commit (engine.Mark.Live). Added without a new
	// format version: a file no build that writes it wrote opens as
	// before.
	keyWALLive = []byte("wal-live")
	// keySealedKeys records that the store is encrypted (crypt.go): the
	// ids of the keys its sealed records are under, each a uint32
	// big-endian, ascending; empty: checked, nothing sealed.
	keySealedKeys = []byte("sealed-keys")
	// keyImports lists the unfinished imports, each with the number of
	// threads it marks and the first, under a CRC-32C (import_marks.go).
	// Added without a new format version.
	keyImports = []byte("imports")
	// keySwapUnsynced says the file was renamed into place by a Compact
	// whose fsync of the directory failed (engine.Mark.Swap): the next
	// read-write Open compacts again before it acknowledges anything.
	// Added without a new format version.
	keySwapUnsynced = []byte("swap-unsynced")
)

// idLen is the size of a checkpoint id (a ULID) in keys.
const idLen = 16

// appliedMark is where bbolt records the last group of the write-ahead log
// it holds (keyWALApplied in the meta bucket).
var appliedMark = engine.Mark{Path: bucketPath{bucketMeta}, Key: keyWALApplied, Log: keyWALLog, Live: keyWALLive, Swap: keySwapUnsynced}

func threadPath(thread string, sub []byte) bucketPath {
	return bucketPath{bucketThreads, []byte(thread), sub}
}

// threadBucket is the bucket holding everything of one thread.
func threadBucket(thread string) bucketPath {
	return bucketPath{bucketThreads, []byte(thread)}
}

// threadsRoot is the bucket whose nested buckets are the threads.
var threadsRoot = bucketPath{bucketThreads}

// threadSubBuckets lists every bucket inside a thread bucket. Their keys do
// not contain the thread id, so CopyThread copies them key for key (and
// their sequences: ls/ numbers lineages with it); a new per-thread bucket
// must be added here to be copied, counted and checked.
var threadSubBuckets = [][]byte{bucketCheckpoints, bucketMetadata, bucketWrites, bucketBlobs, bucketOrder, bucketSegments}

// bucketHolds says, in a few words, what each part of the store holds
// (Stats, `ckpt stats` and the browser's stats page show it beside the
// part's name); the parts are named as BucketStats.Name names them.
var bucketHolds = map[string]string{
	string(bucketMeta):                       "the file's format and its binding to the write-ahead log",
	string(bucketIndex):                      "every checkpoint in time order, across threads",
	"threads/*/" + string(bucketCheckpoints): "checkpoint records (channel versions, parent)",
	"threads/*/" + string(bucketMetadata):    "metadata",
	"threads/*/" + string(bucketWrites):      "pending writes",
	"threads/*/" + string(bucketBlobs):       "channel values",
	"threads/*/" + string(bucketOrder):       "each thread's history order, and its pending writes' counts",
	"threads/*/" + string(bucketSegments):    "list items stored as append-deltas",
}

func appendLen16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// nsKey is the prefix of every key of one namespace inside a thread bucket.
func nsKey(ns string) []byte {
	return appendLen16(make([]byte, 0, 2+len(ns)+idLen), ns)
}

// checkpointKey keys a checkpoint's record and metadata; it is also the
// prefix of that checkpoint's pending writes.
func checkpointKey(ns string, id [idLen]byte) []byte {
	return append(nsKey(ns), id[:]...)
}

// writeKey keys one pending write.
func writeKey(ns string, id [idLen]byte, taskID string, idx int) []byte {
	k := appendLen16(checkpointKey(ns, id), taskID)
	return binary.BigEndian.AppendUint32(k, uint32(int32(idx))^0x80000000)
}

// parseWriteKey returns the task id and index of a write key that starts
// with prefix (a checkpointKey).
func parseWriteKey(prefix, k []byte) (taskID string, idx int, err error) {
	rest := k[len(prefix):]
	if len(rest) < 2 {
		return "", 0, fmt.Errorf("%w: short write key", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+n+4 {
		return "", 0, fmt.Errorf("%w: malformed write key", ErrCorrupt)
	}
	taskID = string(rest[2 : 2+n])
	idx = int(int32(binary.BigEndian.Uint32(rest[2+n:]) ^ 0x80000000))
	return taskID, idx, nil
}

// blobKey keys one channel value at one version.
func blobKey(ns, channel, version string) []byte {
	k := appendLen16(nsKey(ns), channel)
	return append(k, version...)
}

// segmentPrefix is the prefix of every segment of one list lineage.
func segmentPrefix(ns, channel string, lineage uint64) []byte {
	k := appendLen16(nsKey(ns), channel)
	return binary.BigEndian.AppendUint64(k, lineage)
}

// segmentKey keys the segment of a lineage that starts at item start.
func segmentKey(ns, channel string, lineage uint64, start int) []byte {
	return binary.BigEndian.AppendUint32(segmentPrefix(ns, channel, lineage), uint32(start))
}

func segmentStart(k []byte) int { return int(binary.BigEndian.Uint32(k[len(k)-4:])) }

// parseLen16 splits a len16-prefixed string off the front of b.
func parseLen16(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// parseSegmentKey splits a list segment key.
func parseSegmentKey(k []byte) (ns, channel string, lineage uint64, start int, err error) {
	ns, rest, ok := parseLen16(k)
	if ok {
		channel, rest, ok = parseLen16(rest)
	}
	if !ok || len(rest) != 12 {
		return "", "", 0, 0, fmt.Errorf("%w: malformed list segment key", ErrCorrupt)
	}
	return ns, channel, binary.BigEndian.Uint64(rest), int(binary.BigEndian.Uint32(rest[8:])), nil
}

// importsRoot holds one bucket per unfinished import.
var importsRoot = bucketPath{bucketImports}

// importPath is the bucket of the threads one import created.
func importPath(id [idLen]byte) bucketPath { return bucketPath{bucketImports, id[:]} }

// dirPath is the directory of threads (see the layout above).
var dirPath = bucketPath{bucketDir}

// dirKey keys thread in the directory of threads; it is the prefix of the
// keys of the thread's namespaces there (nsDirKey).
func dirKey(thread string) []byte {
	return appendLen16(make([]byte, 0, 2+len(thread)), thread)
}

// nsDirKey keys namespace ns of thread in the directory of threads
// (format 8).
func nsDirKey(thread, ns string) []byte {
	return appendLen16(appendLen16(make([]byte, 0, 4+len(thread)+len(ns)), thread), ns)
}

// parseDirKey splits a key of the directory of threads: a thread's
// (listed, no namespace) or one of its namespaces' (listed, ns set).
func parseDirKey(k []byte) (thread, ns string, isNS, ok bool) {
	thread, rest, ok := parseLen16(k)
	if !ok || len(rest) == 0 {
		return thread, "", false, ok
	}
	ns, rest, ok = parseLen16(rest)
	return thread, ns, true, ok && len(rest) == 0
}

// sweepPath is the bucket of pending blob sweeps.
var sweepPath = bucketPath{bucketSweep}

// sweepKey marks the blobs of (thread, ns) for a sweep.
func sweepKey(thread, ns string) []byte {
	return append(sweepThreadPrefix(thread), ns...)
}

// sweepThreadPrefix is the prefix of every sweep key of a thread.
func sweepThreadPrefix(thread string) []byte {
	return appendLen16(make([]byte, 0, 2+len(thread)), thread)
}

func parseSweepKey(k []byte) (thread, ns string, err error) {
	if len(k) < 2 {
		return "", "", fmt.Errorf("%w: short sweep key", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n {
		return "", "", fmt.Errorf("%w: malformed sweep key", ErrCorrupt)
	}
	return string(k[2 : 2+n]), string(k[2+n:]), nil
}

// blobNamespace returns the namespace of a blob key.
func blobNamespace(k []byte) (string, error) {
	if len(k) < 2 || len(k) < 2+int(binary.BigEndian.Uint16(k)) {
		return "", fmt.Errorf("%w: malformed blob key", ErrCorrupt)
	}
	return string(k[2 : 2+int(binary.BigEndian.Uint16(k))]), nil
}

// orderKey keys a checkpoint in its thread's history across namespaces.
func orderKey(id [idLen]byte, ns string) []byte {
	return append(append(make([]byte, 0, idLen+len(ns)), id[:]...), ns...)
}

func parseOrderKey(k []byte) (id [idLen]byte, ns string, err error) {
	if len(k) < idLen {
		return id, "", fmt.Errorf("%w: short order key", ErrCorrupt)
	}
	copy(id[:], k)
	return id, string(k[idLen:]), nil
}

// indexKey keys a checkpoint in the global time-ordered index.
func indexKey(id [idLen]byte, thread, ns string) []byte {
	k := append(make([]byte, 0, idLen+2+len(thread)+len(ns)), id[:]...)
	k = appendLen16(k, thread)
	return append(k, ns...)
}

func parseIndexKey(k []byte) (id [idLen]byte, thread, ns string, err error) {
	if len(k) < idLen+2 {
		return id, "", "", fmt.Errorf("%w: short index key", ErrCorrupt)
	}
	copy(id[:], k)
	n := int(binary.BigEndian.Uint16(k[idLen:]))
	if len(k) < idLen+2+n {
		return id, "", "", fmt.Errorf("%w: malformed index key", ErrCorrupt)
	}
	return id, string(k[idLen+2 : idLen+2+n]), string(k[idLen+2+n:]), nil
}

// seekPastPrefix returns a key greater than every key that starts with
// prefix and whose remainder is at most idLen+1 bytes: the place to start a
// reverse scan of one namespace.
func seekPastPrefix(prefix []byte) []byte {
	k := append([]byte(nil), prefix...)
	for range idLen + 1 {
		k = append(k, 0xff)
	}
	return k
}

func encodeFormat() []byte { return binary.BigEndian.AppendUint32(nil, formatVersion) }

// formatSum is the checksum of format marker v (meta "format-sum"): the
// key's name goes in too, so no other CRC-32C of the same 4 bytes matches.
func formatSum(v []byte) uint32 {
	return crc32.Update(crc32.Checksum(keyFormat, castagnoli), castagnoli, v)
}

// putFormat writes the format marker of this build and its sum.
func putFormat(w writer) error {
	if err := w.Put(bucketPath{bucketMeta}, keyFormat, encodeFormat()); err != nil {
		return err
	}
	return w.Put(bucketPath{bucketMeta}, keyFormatSum, binary.BigEndian.AppendUint32(nil, formatSum(encodeFormat())))
}

// checkFormat checks format marker v against its checksum sum (nil: a file
// written before the sum, checked as before) and the formats this build
// reads. The sum is checked first: a damaged marker naming a newer format
// is ErrCorrupt, not a file this build is too old for.
func checkFormat(v, sum []byte) error {
	if len(v) != 4 {
		return fmt.Errorf("%w: format marker has %d bytes", ErrCorrupt, len(v))
	}
	if sum != nil && (len(sum) != 4 || binary.BigEndian.Uint32(sum) != formatSum(v)) {
		return fmt.Errorf("%w: the format marker (%d) disagrees with its checksum (meta %q: %x): one of them is damaged", ErrCorrupt, binary.BigEndian.Uint32(v), keyFormatSum, sum)
	}
	if got := binary.BigEndian.Uint32(v); got < minFormatVersion || got > formatVersion {
		return fmt.Errorf("%w: file has format %d, this build reads formats %d to %d", ErrFormatVersion, got, minFormatVersion, formatVersion)
	}
	return nil
}

// validName checks a name that becomes part of a key.
func validName(what, s string, max int) error { return saverkit.CheckName(what, s, max) }

// readNS reads the nsKey at the start of k and returns the namespace and
// the rest of the key.
func readNS(k []byte) (ns string, rest []byte, err error) {
	if len(k) < 2 {
		return "", nil, fmt.Errorf("%w: short key", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n {
		return "", nil, fmt.Errorf("%w: key shorter than its namespace length", ErrCorrupt)
	}
	return string(k[2 : 2+n]), k[2+n:], nil
}

// parseCheckpointKey splits a key of the cp or md bucket.
func parseCheckpointKey(k []byte) (ns string, id [idLen]byte, err error) {
	ns, rest, err := readNS(k)
	if err != nil {
		return "", id, err
	}
	if len(rest) != idLen {
		return "", id, fmt.Errorf("%w: checkpoint key has %d id bytes", ErrCorrupt, len(rest))
	}
	return ns, [idLen]byte(rest), nil
}

// parseFullWriteKey splits a key of the wr bucket.
func parseFullWriteKey(k []byte) (ns string, id [idLen]byte, taskID string, idx int, err error) {
	ns, rest, err := readNS(k)
	if err != nil {
		return "", id, "", 0, err
	}
	if len(rest) < idLen {
		return "", id, "", 0, fmt.Errorf("%w: short write key", ErrCorrupt)
	}
	id = [idLen]byte(rest[:idLen])
	taskID, idx, err = parseWriteKey(k[:len(k)-len(rest)+idLen], k)
	return ns, id, taskID, idx, err
}

// blobKeyNames returns the namespace and channel of a blob key in place;
// false when parseBlobKey would fail.
func blobKeyNames(k []byte) (ns, channel []byte, ok bool) {
	if len(k) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n+2 {
		return nil, nil, false
	}
	ns, rest := k[2:2+n], k[2+n:]
	m := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+m {
		return nil, nil, false
	}
	return ns, rest[2 : 2+m], true
}

// parseBlobKey splits a key of the bl bucket.
func parseBlobKey(k []byte) (ns, channel, version string, err error) {
	ns, rest, err := readNS(k)
	if err != nil {
		return "", "", "", err
	}
	if len(rest) < 2 {
		return "", "", "", fmt.Errorf("%w: short blob key", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+n {
		return "", "", "", fmt.Errorf("%w: blob key shorter than its channel length", ErrCorrupt)
	}
	return ns, string(rest[2 : 2+n]), string(rest[2+n:]), nil
}
