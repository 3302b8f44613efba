package ckpt

// The marks of an unfinished import, checked. An import marks each thread
// it starts under imports/<id>/ (import.go); a read-write Open rolls back
// the threads an import left marked, and a read-only handle hides them
// (import_hide.go). Nothing checked those marks: one damaged byte of a
// thread's name in them, of the import's bucket name, of the "imports"
// bucket's name or of a page or bucket header holding them left a thread
// of the import unmarked, and it read as one of the file's own threads,
// half-written, with no error; the next read-write Open kept it for good
// (h31-oldfmt found it; import_mark_damage_test.go). So the marks carry
// what tells them damaged:
//
//   - each mark's value is the CRC-32C of the import's id and the thread it
//     names (a renamed mark, or one moved to another import, no longer
//     matches its sum);
//   - meta/"imports" lists every unfinished import, with how many marks it
//     holds and a thread it still marks (the first it started, then, as a
//     rollback deletes threads, the first still marked), under a CRC-32C
//     of its own: an import whose bucket, or some of whose marks, damage
//     hid is found short of its count. The list sits outside imports/, so
//     no damage there can hide both.
//
// A file where they disagree holds threads of an import that cannot be
// told from its own: a read-write Open refuses it and a read-only handle
// refuses every read but Verify, which reports it (ErrCorrupt either
// way).
//
// Added without a new format version. A build before this one writes marks
// with empty values and no list: such an import (killed under an older
// build) is rolled back and hidden as before, its marks unchecked. An
// older build ignores the sums and the list; one that rolls back an import
// of this build drops its marks, not its entry in the list: an entry whose
// marks are gone with the thread it names is such a leftover, not damage
// (and the next read-write Open removes it). An older build that dies
// half-way through that rollback leaves fewer marks than the list counts,
// which this build then takes for damage.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// importEntry is one unfinished import as meta/"imports" lists it.
type importEntry struct {
	id    [idLen]byte
	marks uint32 // the threads it marks under imports/<id>/
	first string // a thread it marks (the first it started, or the first still marked)
}

// importListV1 is the version byte of meta/"imports".
const importListV1 = 1

// encodeImportList is meta/"imports": a version byte, then per import
// (ascending ids) id(16) | marks uint32 | len16(first) | first, then the
// CRC-32C of all before it (uint32; big-endian throughout).
func encodeImportList(es []importEntry) []byte {
	b := []byte{importListV1}
	for _, e := range es {
		b = append(b, e.id[:]...)
		b = binary.BigEndian.AppendUint32(b, e.marks)
		b = appendLen16(b, e.first)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeImportList reads meta/"imports" (nil: none listed).
func decodeImportList(v []byte) ([]importEntry, error) {
	if v == nil {
		return nil, nil
	}
	bad := fmt.Errorf("%w: the list of unfinished imports (meta %q) is damaged", ErrCorrupt, keyImports)
	if len(v) < 1+sumLen || v[0] != importListV1 || crc32.Checksum(v[:len(v)-sumLen], castagnoli) != binary.BigEndian.Uint32(v[len(v)-sumLen:]) {
		return nil, bad
	}
	var es []importEntry
	for b := v[1 : len(v)-sumLen]; len(b) > 0; {
		if len(b) < idLen+4 {
			return nil, bad
		}
		e := importEntry{id: [idLen]byte(b), marks: binary.BigEndian.Uint32(b[idLen:])}
		var ok bool
		if e.first, b, ok = parseLen16(b[idLen+4:]); !ok {
			return nil, bad
		}
		es = append(es, e)
	}
	return es, nil
}

// markSum is the value of import id's mark of thread.
func markSum(id [idLen]byte, thread []byte) []byte {
	sum := crc32.Update(crc32.Checksum(id[:], castagnoli), castagnoli, thread)
	return binary.BigEndian.AppendUint32(nil, sum)
}

// updateImportList applies fn to import id's entry in meta/"imports"
// (listed false and the zero entry, with its id, when it has none): fn
// returns the new entry and whether to keep it.
func updateImportList(w writer, id [idLen]byte, fn func(e importEntry, listed bool) (importEntry, bool)) error {
	es, err := decodeImportList(w.Get(bucketPath{bucketMeta}, keyImports))
	if err != nil {
		return err
	}
	i, found := slices.BinarySearchFunc(es, id, func(e importEntry, id [idLen]byte) int { return bytes.Compare(e.id[:], id[:]) })
	cur := importEntry{id: id}
	if found {
		cur = es[i]
	}
	e, keep := fn(cur, found)
	switch {
	case keep && found:
		es[i] = e
	case keep:
		es = slices.Insert(es, i, e)
	case found:
		es = slices.Delete(es, i, i+1)
	default:
		return nil
	}
	if len(es) == 0 {
		return w.Del(bucketPath{bucketMeta}, keyImports)
	}
	return w.Put(bucketPath{bucketMeta}, keyImports, encodeImportList(es))
}

// markImport marks threads (new to import id) as the import's, and counts
// them in its entry of meta/"imports" (the first ever marked names it).
func markImport(w writer, id [idLen]byte, threads []string) error {
	if len(threads) == 0 {
		return nil
	}
	for _, th := range threads {
		if err := w.Put(importPath(id), []byte(th), markSum(id, []byte(th))); err != nil {
			return err
		}
	}
	return updateImportList(w, id, func(e importEntry, listed bool) (importEntry, bool) {
		if !listed {
			e.first = threads[0]
		}
		e.marks += uint32(len(threads))
		return e, true
	})
}

// unmarkImport deletes import id's mark of thread (rolled back), and
// counts it out of its entry, if the import has one (one of an older
// build has none). The entry's first thread, rolled back, becomes the
// first still marked: a thread that stays until the marks go.
func unmarkImport(w writer, id [idLen]byte, thread string) error {
	if err := w.Del(importPath(id), []byte(thread)); err != nil {
		return err
	}
	var next string
	if err := w.Scan(importPath(id), nil, nil, false, func(k, _ []byte) error {
		next = string(k)
		return keepScanning(false)
	}); err != nil {
		return err
	}
	return updateImportList(w, id, func(e importEntry, listed bool) (importEntry, bool) {
		if e.marks > 0 {
			e.marks--
		}
		if e.first == thread && next != "" {
			e.first = next
		}
		return e, listed
	})
}

// endImport drops import id's marks and its entry: published, or rolled
// back to the last thread.
func endImport(w writer, id [idLen]byte) error {
	if err := w.DropBucket(importPath(id)); err != nil {
		return err
	}
	return updateImportList(w, id, func(e importEntry, _ bool) (importEntry, bool) { return e, false })
}

// checkedImports returns the threads the file's unfinished imports mark
// (those a read-only handle hides and a read-write Open deletes), the
// imports to roll back, and an error wrapping ErrCorrupt when the marks
// and meta/"imports" disagree (see the top of this file). stale lists
// the entries of imports an older build rolled back.
func checkedImports(r reader) (threads map[string]bool, ids [][idLen]byte, stale [][idLen]byte, err error) {
	listed, lerr := decodeImportList(r.Get(bucketPath{bucketMeta}, keyImports))
	var errs []error
	if lerr != nil {
		errs = append(errs, lerr)
	}
	threads = map[string]bool{}
	found := map[[idLen]byte]bool{}
	berr := r.Buckets(importsRoot, nil, func(name []byte) error {
		if len(name) != idLen {
			errs = append(errs, fmt.Errorf("%w: the bucket of unfinished imports holds one named %x, not an import's id (a damaged name)", ErrCorrupt, name))
			return nil
		}
		id := [idLen]byte(name)
		found[id] = true
		ids = append(ids, id)
		i, isListed := slices.BinarySearchFunc(listed, id, func(e importEntry, id [idLen]byte) int { return bytes.Compare(e.id[:], id[:]) })
		var marks uint32
		serr := r.Scan(importPath(id), nil, nil, false, func(k, v []byte) error {
			marks++
			threads[string(k)] = true
			if len(v) == 0 && !isListed {
				return nil // a mark of a build before the sums
			}
			if !bytes.Equal(v, markSum(id, k)) {
				errs = append(errs, fmt.Errorf("%w: unfinished import %s: its mark of thread %q does not match its sum (a damaged mark: the import's threads cannot be told from the file's)", ErrCorrupt, idString(id), k))
			}
			return nil
		})
		if serr != nil {
			errs = append(errs, fmt.Errorf("unfinished import %s: %w", idString(id), serr))
		} else if isListed && marks != listed[i].marks {
			errs = append(errs, fmt.Errorf("%w: unfinished import %s: %d threads marked, %d listed (damage hides some of its marks: its threads cannot be told from the file's)", ErrCorrupt, idString(id), marks, listed[i].marks))
		}
		return nil
	})
	if berr != nil {
		errs = append(errs, fmt.Errorf("unfinished imports: %w", berr))
	}
	for _, e := range listed {
		if found[e.id] {
			continue
		}
		if r.Exists(threadBucket(e.first)) || r.Has(dirPath, dirKey(e.first)) {
			errs = append(errs, fmt.Errorf("%w: unfinished import %s is listed, with its thread %q, but its marks are not found (damaged: its threads cannot be told from the file's)", ErrCorrupt, idString(e.id), e.first))
			continue
		}
		stale = append(stale, e.id)
	}
	return threads, ids, stale, errors.Join(errs...)
}
