package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"
)

// TestFlippedByteInStoredValueIsErrCorrupt flips one byte inside 200 of 400
// stored values of a closed store (found by searching the file for their
// encoded bytes) and reopens it: each read of an affected value is
// ErrCorrupt naming thread, channel and version, never a wrong value; the
// others read back exactly; Verify lists every affected value. The records
// are as this build writes them (format 4, XXH3 sums).
func TestFlippedByteInStoredValueIsErrCorrupt(t *testing.T) {
	t.Parallel()
	testFlippedByte(t, false)
}

// TestFlippedByteInFormat3ValueIsErrCorrupt is the same on a file of
// format 3 (records with CRC-32C sums, as the build before XXH3 wrote
// them), opened read-only as it is.
func TestFlippedByteInFormat3ValueIsErrCorrupt(t *testing.T) {
	t.Parallel()
	testFlippedByte(t, true)
}

// toFormat3 rewrites every record of every thread as format 3 wrote it (the
// same version with the sumXXH3 and sumKeyed bits clear, the same body, a
// CRC-32C) and marks the file format 3.
func toFormat3(t *testing.T, s *Store) { toFormat(t, s, 3) }

// toFormat rewrites every record of the given threads (all when none) as
// format 3, 4 or 5 wrote it (format 4: the sumXXH3 bits set, an XXH3 sum
// of the record alone; format 5: sumXXH3|sumKeyed, an XXH3 sum of key and
// record; format 6: as they are), drops their write tallies and the
// directory of threads (format 7: keeps records and tallies, drops the
// namespaces of the directory), and marks the file with that format. Each
// record must be one this build wrote.
func toFormat(t testing.TB, s *Store, format uint32, only ...string) {
	t.Helper()
	err := s.write(context.Background(), func(w writer) error {
		var threads []string
		if err := w.Buckets(threadsRoot, nil, func(name []byte) error {
			if len(only) == 0 || slices.Contains(only, string(name)) {
				threads = append(threads, string(name))
			}
			return nil
		}); err != nil {
			return err
		}
		if format >= 7 {
			threads = nil // format 7: records and tallies as they are
		}
		for _, th := range threads {
			// Files before format 7 keep no write tallies: their history
			// order holds keys alone.
			var order [][]byte
			if err := w.Scan(threadPath(th, bucketOrder), nil, nil, false, func(k, _ []byte) error {
				order = append(order, bytes.Clone(k))
				return nil
			}); err != nil {
				return err
			}
			for _, k := range order {
				if err := w.Put(threadPath(th, bucketOrder), k, nil); err != nil {
					return err
				}
			}
			if format == 6 {
				continue // its records are this build's
			}
			for _, sub := range sealedSubBuckets {
				p := threadPath(th, sub)
				var ks, vs [][]byte
				if err := w.Scan(p, nil, nil, false, func(k, v []byte) error {
					if len(v) <= sumLen || v[0]&sumMask != sumThreaded {
						return fmt.Errorf("thread %q %s: record version %d is not format 6's", th, sub, v[0])
					}
					old := append([]byte{v[0] &^ sumMask}, v[1:len(v)-sumLen]...)
					switch format {
					case 5:
						old[0] |= sumXXH3 | sumKeyed
						old = binary.LittleEndian.AppendUint32(old, uint32(xxh3.HashSeed(k, xxh3.Hash(old))))
					case 4:
						old[0] |= sumXXH3
						old = binary.LittleEndian.AppendUint32(old, uint32(xxh3.Hash(old)))
					case 3:
						old = binary.LittleEndian.AppendUint32(old, crc32.Checksum(old, castagnoli))
					default:
						return fmt.Errorf("toFormat: format %d", format)
					}
					ks = append(ks, bytes.Clone(k))
					vs = append(vs, old)
					return nil
				}); err != nil {
					return err
				}
				for i := range ks {
					if err := w.Put(p, ks[i], vs[i]); err != nil {
						return err
					}
				}
			}
		}
		if format < 7 {
			// Nor a directory of threads.
			if err := w.DropBucket(dirPath); err != nil {
				return err
			}
		} else if format < 8 {
			// Nor its namespaces in it.
			var nss [][]byte
			if err := w.Scan(dirPath, nil, nil, false, func(k, _ []byte) error {
				if _, _, isNS, _ := parseDirKey(k); isNS {
					nss = append(nss, bytes.Clone(k))
				}
				return nil
			}); err != nil {
				return err
			}
			if _, err := delAll(w, dirPath, nss); err != nil {
				return err
			}
		}
		// Nor the marker's sum (meta "format-sum").
		if err := w.Del(bucketPath{bucketMeta}, keyFormatSum); err != nil {
			return err
		}
		return w.Put(bucketPath{bucketMeta}, keyFormat, binary.BigEndian.AppendUint32(nil, format))
	})
	if err != nil {
		t.Fatal(err)
	}
	// The store now reads as one opened on such a file (read-write, Open
	// would have upgraded it): without tallies.
	s.untallied, s.unlisted = format < tallyFormat, format < nsFormat
}

// recordSums counts the records of every thread by the sum they carry:
// CRC-32C (format 3), XXH3 of the record (format 4), XXH3 of key and
// record (format 5), XXH3 of thread, key and record (format 6).
func recordSums(t *testing.T, s *Store) (crc, xxh, keyed, threaded int) {
	t.Helper()
	err := s.view(context.Background(), func(r reader) error {
		return r.Buckets(threadsRoot, nil, func(name []byte) error {
			for _, sub := range sealedSubBuckets {
				if err := r.Scan(threadPath(string(name), sub), nil, nil, false, func(_, v []byte) error {
					switch {
					case !isSealed(sub, v):
						t.Fatalf("thread %q %s: a record without a checksum (version %d)", name, sub, v[0])
					case v[0]&sumMask == sumThreaded:
						threaded++
					case v[0]&sumMask == sumXXH3|sumKeyed:
						keyed++
					case v[0]&sumMask == sumXXH3:
						xxh++
					default:
						crc++
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return crc, xxh, keyed, threaded
}

func testFlippedByte(t *testing.T, format3 bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(14, 3))
	path := filepath.Join(t.TempDir(), "flip.ckpt")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const threads = 200
	type value struct {
		thread, channel, version string
		want                     any
		find                     []byte // bytes of it that the file holds contiguously
	}
	var values []value
	randText := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
		}
		return string(b)
	}
	for i := range threads {
		thread := fmt.Sprintf("thread-%03d", i)
		// A whole value (a string) and a list (stored as a list segment).
		str := randText(100 + rng.IntN(200))
		list := []any{randText(40), int64(i), randText(60)}
		vals := map[string]any{"text": str, "items": list}
		vers := map[string]string{"text": "7", "items": "3"}
		if _, err := s.Put(ctx, Config{ThreadID: thread}, Checkpoint{ChannelValues: vals, ChannelVersions: vers}, nil, vers); err != nil {
			t.Fatal(err)
		}
		enc, err := marshal(nil, list)
		if err != nil {
			t.Fatal(err)
		}
		_, hdr, _ := listHeader(enc)
		values = append(values,
			value{thread, "text", "7", str, mustEncode(t, str)},
			value{thread, "items", "3", list, enc[hdr:]})
	}
	if format3 {
		toFormat3(t, s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of one of the two values of every thread. bbolt copies
	// pages on write, so a file may hold stale copies of a value in free
	// pages: flip the same byte in every copy.
	flipped := map[string]bool{}
	for i := 0; i < len(values); i += 2 {
		v := values[i+rng.IntN(2)]
		at := rng.IntN(len(v.find))
		mask := byte(1 + rng.IntN(255))
		n := 0
		for off := 0; ; {
			j := bytes.Index(file[off:], v.find)
			if j < 0 {
				break
			}
			file[off+j+at] ^= mask
			off += j + len(v.find)
			n++
		}
		if n == 0 {
			t.Fatalf("thread %s channel %s: value not found in the file", v.thread, v.channel)
		}
		flipped[v.thread+"/"+v.channel] = true
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The records carry the sum the test is about.
	if crc, xxh, keyed, threaded := recordSums(t, s); format3 && (xxh+keyed+threaded != 0 || crc == 0) || !format3 && (crc+xxh+keyed != 0 || threaded == 0) {
		t.Fatalf("format3=%v: %d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", format3, crc, xxh, keyed, threaded)
	}
	for i := 0; i < len(values); i += 2 {
		thread := values[i].thread
		tp, err := s.GetTuple(ctx, Config{ThreadID: thread})
		for _, v := range values[i : i+2] {
			if !flipped[thread+"/"+v.channel] {
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("thread %s: value of channel %q flipped, read = %v", thread, v.channel, err)
			}
			for _, name := range []string{fmt.Sprintf("%q", thread), fmt.Sprintf("channel %q", v.channel), fmt.Sprintf("version %q", v.version), "checkpoint "} {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("thread %s: error %q does not name %s", thread, err, name)
				}
			}
		}
		if err != nil {
			continue
		}
		t.Fatalf("thread %s: read a value with a flipped byte without error: %v", thread, tp.Checkpoint.ChannelValues)
	}
	// The untouched value of each thread still reads right on its own:
	// read it through the blob directly, as GetTuple fails on the other.
	err = s.view(ctx, func(r reader) error {
		for _, v := range values {
			if flipped[v.thread+"/"+v.channel] {
				continue
			}
			b := r.Get(threadPath(v.thread, bucketBlobs), blobKey("", v.channel, v.version))
			raw, ok, err := resolveBlob(r, nil, v.thread, seedOf(v.thread), "", v.channel, v.version, b)
			if err != nil || !ok {
				t.Fatalf("thread %s channel %s: untouched value: %v", v.thread, v.channel, err)
			}
			got, err := raw.Value()
			if err != nil || fmt.Sprint(got) != fmt.Sprint(v.want) {
				t.Fatalf("thread %s channel %s: untouched value reads %v, %v", v.thread, v.channel, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, p := range rep.Problems {
		if p.Check != "value" || !strings.Contains(p.Detail, "checksum") {
			t.Fatalf("unexpected problem: %v", p)
		}
		for _, ch := range []string{"text", "items"} {
			if strings.Contains(p.Detail, fmt.Sprintf("channel %q", ch)) {
				listed[p.Thread+"/"+ch] = true
			}
		}
	}
	for k := range flipped {
		if !listed[k] {
			t.Fatalf("Verify does not list the flipped value %s: %v", k, rep.Problems)
		}
	}
}

// TestVerifyListsRecordsWithoutChecksum: in a format-5 file a record of an
// old, unchecked version (a damaged version byte, or an older build's
// write) is listed, as is a damaged list segment no version refers to.
func TestVerifyListsRecordsWithoutChecksum(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ids := putChain(t, s, "t", "", 2)
	id, err := parseID("id", ids[1])
	if err != nil {
		t.Fatal(err)
	}
	err = s.write(context.Background(), func(w writer) error {
		key := checkpointKey("", id)
		md := w.Get(threadPath("t", bucketMetadata), key)
		old := append([]byte{metadataRecordV1}, md[1:len(md)-sumLen]...)
		if err := w.Put(threadPath("t", bucketMetadata), key, old); err != nil {
			return err
		}
		sk := segmentKey("", "orphan", 9, 0)
		seg := encodeSegment(nil, "t", seedOf("t"), sk, 1, foldedFlags(0), []byte{0x01})
		seg[len(seg)-1] ^= 0x40
		return w.Put(threadPath("t", bucketSegments), sk, seg)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{Check: "metadata", Thread: "t", CheckpointID: ids[1], Detail: "metadata record: record has no checksum (record version 1 in a format " + fmt.Sprint(formatVersion) + " file)"},
		{Check: "value", Thread: "t", Detail: `channel "orphan" list segment (lineage 9, from item 0): ckpt: corrupt data: list segment record checksum mismatch`},
	}
	for _, w := range want {
		found := false
		for _, p := range rep.Problems {
			found = found || p.Check == w.Check && p.Thread == w.Thread && p.CheckpointID == w.CheckpointID && strings.HasPrefix(p.Detail, w.Detail)
		}
		if !found {
			t.Fatalf("Verify problems %v, want one like %v", rep.Problems, w)
		}
	}
}

// BenchmarkRecordChecksum measures what sealing and checking one record
// costs (bench/RESULTS.md, "Checksums"): a W1 step writes a few records of
// a few KB. sum=xxh3 is format 4's sum (the record alone), sum=xxh3+key
// format 5's (key and record; the key a W1-shaped 40-byte blob key),
// sum=xxh3+key+thread format 6's (thread, key and record), side by side in
// one process.
func BenchmarkRecordChecksum(b *testing.B) {
	key := blobKey("", "messages", "01JABCDEFGHJKMNPQRSTVWXYZ0")
	for _, size := range []int{64, 256, 4 << 10, 64 << 10} {
		for _, v := range []struct {
			name    string
			version byte
		}{{"xxh3", blobRecordX}, {"xxh3+key", blobRecordK}, {"xxh3+key+thread", blobRecordT}} {
			rec := bytes.Repeat([]byte{0xa5}, size)
			rec[0] = v.version
			b.Run(fmt.Sprintf("bytes=%d/sum=%s", size, v.name), func(b *testing.B) {
				b.SetBytes(int64(size))
				buf := make([]byte, 0, size+sumLen)
				for b.Loop() {
					sealed := appendSum(1, key, append(buf[:0], rec...))
					if _, err := checkSum("value", 1, key, sealed); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestNoVersionFlipReadsUnchecked: for every record kind, no single flipped
// bit of a checksummed version byte gives a version read without a check
// (the versions before format 3), nor turns a record into one of another
// format, whose sum covers less (format 6: thread, key and record; 5: key
// and record; 3 and 4: the record), and each checksummed version reads
// with the sum its sum bits (sumMask) say.
func TestNoVersionFlipReadsUnchecked(t *testing.T) {
	kinds := []struct {
		name      string
		unchecked []byte
		checked   []byte
	}{
		{"checkpoint", []byte{checkpointRecordV1}, []byte{checkpointRecordV2, checkpointRecordX, checkpointRecordK, checkpointRecordT}},
		{"metadata", []byte{metadataRecordV1}, []byte{metadataRecordV2, metadataRecordX, metadataRecordK, metadataRecordT}},
		{"write", []byte{writeRecordV1}, []byte{writeRecordV2, writeRecordV4, writeRecordX, writeRecordX4, writeRecordK, writeRecordK4, writeRecordT, writeRecordT4}},
		{"blob", []byte{blobRecordV1, blobRecordV2}, []byte{blobRecordV3, blobRecordX, blobRecordK, blobRecordT}},
		{"segment", []byte{segmentRecordV1}, []byte{segmentRecordV2, segmentRecordV4, segmentRecordX, segmentRecordX4, segmentRecordK, segmentRecordK4, segmentRecordT, segmentRecordT4}},
	}
	for _, k := range kinds {
		for _, c := range k.checked {
			for bit := range 8 {
				f := c ^ 1<<bit
				if bytes.IndexByte(k.unchecked, f) >= 0 {
					t.Errorf("%s record version %#x: one flipped bit gives %#x, read without a checksum", k.name, c, f)
				}
				if c&sumMask != f&sumMask && bytes.IndexByte(k.checked, f) >= 0 {
					t.Errorf("%s record version %#x: one flipped bit gives %#x, checked with another sum", k.name, c, f)
				}
			}
		}
	}
	const seed = threadSeed(0x0123456789abcdef)
	for _, v := range []byte{checkpointRecordT, writeRecordT4, blobRecordT, segmentRecordT} {
		key := []byte("key")
		rec := appendSum(seed, key, []byte{v, 0x90})
		if got, want := binary.LittleEndian.Uint32(rec[2:]), uint32(xxh3.HashSeed(key, xxh3.Hash(rec[:2])^uint64(seed))); got != want {
			t.Errorf("record version %#x: sum %08x, want XXH3 of the key seeded with XXH3 of the record XOR the thread's seed, %08x", v, got, want)
		}
	}
	for _, v := range []byte{checkpointRecordK, writeRecordK4, blobRecordK, segmentRecordK} {
		key := []byte("key")
		rec := appendSum(seed, key, []byte{v, 0x90})
		if got, want := binary.LittleEndian.Uint32(rec[2:]), uint32(xxh3.HashSeed(key, xxh3.Hash(rec[:2]))); got != want {
			t.Errorf("record version %#x: sum %08x, want XXH3 of the key seeded with XXH3 of the record, %08x", v, got, want)
		}
	}
	for _, v := range []byte{checkpointRecordX, writeRecordX4, blobRecordX, segmentRecordX} {
		rec := appendSum(seed, []byte("key"), []byte{v, 0x90})
		if got, want := binary.LittleEndian.Uint32(rec[2:]), uint32(xxh3.Hash(rec[:2])); got != want {
			t.Errorf("record version %#x: sum %08x, want XXH3's %08x", v, got, want)
		}
	}
	for _, v := range []byte{checkpointRecordV2, writeRecordV4, blobRecordV3} {
		rec := appendSum(seed, []byte("key"), []byte{v, 0x90})
		if got, want := binary.LittleEndian.Uint32(rec[2:]), crc32.Checksum(rec[:2], castagnoli); got != want {
			t.Errorf("record version %#x: sum %08x, want CRC-32C's %08x", v, got, want)
		}
	}
}
