package ckpt

// A reader of a bbolt file's pages that never trusts them, for the
// helper-186 hunt (h186_maint_damage_hunt_test.go): it walks every bucket
// from the newest valid meta page and records, for each key, its value
// and the pages on its path from the root. The hunt flips one bit of one
// page; a key whose path holds that page may be unreadable for reasons of
// the damage alone, every other key is the oracle. bbolt itself cannot be
// the reader: it panics or loops on a damaged page, and its lookups
// descend by the keys of branch pages, so one damaged branch key hides a
// leaf that is intact. This walker bounds every offset and visits a page
// once per walk, so it reads any bytes.

import (
	"encoding/binary"
	"strconv"
	"strings"
)

const (
	bwBranch     = 0x01
	bwLeaf       = 0x02
	bwBucketLeaf = 0x01 // a leaf element's flag: the value is a bucket
	bwHeader     = 16
	bwElem       = 16
)

// bwEntry is one key of the walked file.
type bwEntry struct {
	path   []string // the bucket names from the root, then the key
	val    []byte   // nil for a bucket
	pages  []int    // every page (with its overflow pages) on the key's path
	koff   int      // the key's offset in the file (-1 for an inline bucket's)
	klen   int
	bucket bool
}

// bwPage is a tree page of the walked file.
type bwPage struct {
	id     int
	branch bool
	used   int // bytes from the page's start to the end of its last key or value
	keys   [][2]int
	owner  string // the bucket path it belongs to
}

type bwFile struct {
	ps      int
	entries map[string]*bwEntry
	pages   map[int]*bwPage
}

func bwJoin(path []string) string {
	q := make([]string, len(path))
	for i, p := range path {
		q[i] = strconv.Quote(p)
	}
	return strings.Join(q, "/")
}

// bwWalk reads the file's bytes b. A file whose meta pages are both bad
// reads as empty.
func bwWalk(b []byte) *bwFile {
	f := &bwFile{entries: map[string]*bwEntry{}, pages: map[int]*bwPage{}}
	if len(b) < 2*bwHeader+64 {
		return f
	}
	ps := int(binary.LittleEndian.Uint32(b[bwHeader+8:]))
	if ps < 512 || ps > 1<<16 || len(b) < 2*ps {
		return f
	}
	f.ps = ps
	var root, txid uint64
	for i := range 2 {
		m := b[i*ps+bwHeader:]
		if binary.LittleEndian.Uint32(m) != 0xED0CDAED {
			continue
		}
		if t := binary.LittleEndian.Uint64(m[48:]); t >= txid {
			txid, root = t, binary.LittleEndian.Uint64(m[16:])
		}
	}
	if root == 0 {
		return f
	}
	seen := map[int]bool{}
	f.walkPage(b, int(root), nil, nil, seen, 0)
	return f
}

// walkPage walks the page id of the bucket at path; via is the pages on
// the way to it.
func (f *bwFile) walkPage(b []byte, id int, path []string, via []int, seen map[int]bool, depth int) {
	if depth > 64 || id < 2 || (id+1)*f.ps > len(b) || seen[id] {
		return
	}
	seen[id] = true
	p := b[id*f.ps:]
	over := int(binary.LittleEndian.Uint32(p[12:]))
	end := (id + 1 + over) * f.ps
	if over < 0 || end > len(b) || end < 0 {
		end = (id + 1) * f.ps
		over = 0
	}
	pg := b[id*f.ps : end]
	here := slicesAppend(via, id, over)
	f.walkNode(b, pg, id*f.ps, id, path, here, seen, depth)
}

func slicesAppend(via []int, id, over int) []int {
	out := append([]int(nil), via...)
	for i := 0; i <= over; i++ {
		out = append(out, id+i)
	}
	return out
}

// walkNode reads the page pg (at offset base in the file, base -1 for an
// inline page).
func (f *bwFile) walkNode(b, pg []byte, base, id int, path []string, via []int, seen map[int]bool, depth int) {
	if len(pg) < bwHeader {
		return
	}
	flags := binary.LittleEndian.Uint16(pg[8:])
	count := int(binary.LittleEndian.Uint16(pg[10:]))
	tp := &bwPage{id: id, branch: flags&bwBranch != 0, owner: bwJoin(path)}
	if base >= 0 {
		f.pages[id] = tp
	}
	for i := range count {
		e := bwHeader + i*bwElem
		if e+bwElem > len(pg) {
			return
		}
		el := pg[e:]
		switch {
		case flags&bwBranch != 0:
			pos, ksz := int(binary.LittleEndian.Uint32(el[0:])), int(binary.LittleEndian.Uint32(el[4:]))
			child := binary.LittleEndian.Uint64(el[8:])
			if ks := e + pos; pos >= 0 && ksz >= 0 && ks+ksz <= len(pg) && ks >= 0 {
				tp.used = max(tp.used, ks+ksz)
				if base >= 0 {
					tp.keys = append(tp.keys, [2]int{base + ks, ksz})
				}
			}
			if child < 1<<40 {
				f.walkPage(b, int(child), path, via, seen, depth+1)
			}
		case flags&bwLeaf != 0:
			fl := binary.LittleEndian.Uint32(el[0:])
			pos, ksz, vsz := int(binary.LittleEndian.Uint32(el[4:])), int(binary.LittleEndian.Uint32(el[8:])), int(binary.LittleEndian.Uint32(el[12:]))
			ks := e + pos
			if pos < 0 || ksz < 0 || vsz < 0 || ks < 0 || ks+ksz+vsz > len(pg) || ks+ksz+vsz < 0 {
				continue
			}
			tp.used = max(tp.used, ks+ksz+vsz)
			key, val := pg[ks:ks+ksz], pg[ks+ksz:ks+ksz+vsz]
			full := append(append([]string(nil), path...), string(key))
			en := &bwEntry{path: full, pages: via, koff: -1, klen: ksz}
			if base >= 0 {
				en.koff = base + ks
				tp.keys = append(tp.keys, [2]int{base + ks, ksz})
			}
			if fl&bwBucketLeaf != 0 {
				en.bucket = true
				f.entries[bwJoin(full)] = en
				if len(val) < 16 {
					continue
				}
				if r := binary.LittleEndian.Uint64(val); r != 0 {
					if r < 1<<40 {
						f.walkPage(b, int(r), full, via, seen, depth+1)
					}
				} else {
					f.walkNode(b, val[16:], -1, id, full, via, seen, depth+1)
				}
				continue
			}
			en.val = append([]byte(nil), val...)
			f.entries[bwJoin(full)] = en
		}
	}
}

// under says whether the key's path holds the page.
func (e *bwEntry) under(page int) bool {
	for _, p := range e.pages {
		if p == page {
			return true
		}
	}
	return false
}
