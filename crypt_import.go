package ckpt

// Encryption and Import: what an import writes on a keyed handle is sealed
// (sealImported), the key ids of the sealed records it brings are added to
// the encryption marker (importedSealIDs, markImported), and a Rekey
// running beside it keeps those ids (importSeals).

import (
	"bytes"
	"maps"
	"slices"
	"sync"
)

// sealImported seals, under a keyed handle's newest key, the plain
// values, list segments and pending writes of an import batch (a dump of
// a plain store, or of one written before encryption was turned on): a
// keyed handle writes no plaintext, as CopyThread does not
// (copiedRecord), and nothing would report it (SealedKeys counts sealed
// records; a Rekey beside the Import lists the threads at its start). A
// record that holds no user data (an empty value, a list's reference),
// or that damage keeps from opening, is written as the dump holds it: its
// reads report the damage. Sealed records stay as the dump holds them.
func sealImported(kr *keyring, recs []importRec) {
	if kr == nil {
		return
	}
	for i := range recs {
		th := threadOf(recs[i].thread)
		for j := range recs[i].puts {
			p := &recs[i].puts[j]
			if len(p.p) != 3 || !bytes.Equal(p.p[0], bucketThreads) || p.v == nil {
				continue
			}
			sub := p.p[2]
			if !slices.ContainsFunc(resealedSubBuckets, func(b []byte) bool { return bytes.Equal(b, sub) }) || isSealedRecord(sub, p.v) {
				continue
			}
			if nv, changed, err := reseal(kr, sub, th, th, p.k, p.v, false); err == nil && changed {
				p.v = nv
			}
		}
	}
}

// importedSealIDs returns the key ids of the sealed records among recs,
// ascending.
func importedSealIDs(recs []importRec) ([]uint32, error) {
	var found []uint32
	for _, rec := range recs {
		ts := seedOf(rec.thread)
		for _, p := range rec.puts {
			if len(p.p) != 3 || !bytes.Equal(p.p[0], bucketThreads) {
				continue
			}
			id, sealed, err := sealedKeyOf(ts, p.p[2], p.k, p.v)
			if err != nil {
				return nil, err
			}
			if sealed {
				found, _ = withID(found, id)
			}
		}
	}
	return found, nil
}

// markImported adds found, the key ids of an import batch's sealed
// records (importedSealIDs), to the marker in w, in the import's
// transaction, and returns the marker's ids if it changed (nil
// otherwise), for noteSealed once committed.
func markImported(w writer, found []uint32) ([]uint32, error) {
	if len(found) == 0 {
		return nil, nil
	}
	ids, _, err := decodeSealedKeys(w.Get(bucketPath{bucketMeta}, keySealedKeys))
	if err != nil {
		return nil, err
	}
	changed := false
	for _, id := range found {
		var added bool
		ids, added = withID(ids, id)
		changed = changed || added
	}
	if !changed {
		return nil, nil
	}
	return ids, w.Put(bucketPath{bucketMeta}, keySealedKeys, encodeSealedKeys(ids))
}

// importSeals tells a Rekey the key ids of the records imports write while
// it runs. Rekey lists the threads once, at its start, through a view that
// hides the threads of imports not yet published (import_hide.go), so it
// re-seals none of what an import running beside it writes: those
// records stay under the dump's keys, and Rekey must not drop those keys
// from the marker when it drops the ones it re-sealed away from (it did:
// TestRekeyDuringAnImportKeepsTheImportedKeysInTheMarker). Each import
// adds a batch's ids before it sends the batch, and Rekey reads them in
// its marker's transaction, so whichever of the two commits first, the
// marker ends up listing them.
type importSeals struct {
	mu      sync.Mutex
	imports map[*[]uint32]struct{} // each running import's ids so far
	rekeys  map[*[]uint32]struct{} // each running Rekey's ids to keep
}

// begin registers a running import.
func (is *importSeals) begin() *[]uint32 {
	run := new([]uint32)
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.imports == nil {
		is.imports = map[*[]uint32]struct{}{}
	}
	is.imports[run] = struct{}{}
	return run
}

// add records ids, about to be written by import run, for every Rekey.
func (is *importSeals) add(run *[]uint32, ids []uint32) {
	if len(ids) == 0 {
		return
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, set := range append(slices.Collect(maps.Keys(is.rekeys)), run) {
		for _, id := range ids {
			*set, _ = withID(*set, id)
		}
	}
}

// watch registers a running Rekey, with the ids the running imports have
// written so far.
func (is *importSeals) watch() *[]uint32 {
	keep := new([]uint32)
	is.mu.Lock()
	defer is.mu.Unlock()
	for run := range is.imports {
		for _, id := range *run {
			*keep, _ = withID(*keep, id)
		}
	}
	if is.rekeys == nil {
		is.rekeys = map[*[]uint32]struct{}{}
	}
	is.rekeys[keep] = struct{}{}
	return keep
}

// ids returns a copy of a registered set.
func (is *importSeals) ids(set *[]uint32) []uint32 {
	is.mu.Lock()
	defer is.mu.Unlock()
	return slices.Clone(*set)
}

// end unregisters an import or a Rekey.
func (is *importSeals) end(set *[]uint32) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.imports, set)
	delete(is.rekeys, set)
}

// newFileSealedKeys is the marker of a new file: its keys' sealing id, or
// nothing sealed. Written with the format marker, so a new store needs no
// scan and no extra commit in Open.
func newFileSealedKeys(kr *keyring) []byte {
	if kr == nil {
		return encodeSealedKeys(nil)
	}
	return encodeSealedKeys([]uint32{kr.sealID})
}
