package engine

// The page check a read-write Open runs before anything writes. bbolt
// trusts every page header it reads, and some damage does not make it
// panic but run away: a write transaction frees each page it rewrites (and
// the old freelist page at every commit) by looping from the page's id to
// id+overflow, adding every id to a map; a flipped high byte of the
// 4-byte overflow field makes that loop millions to billions of rounds and
// gigabytes (a damaged-file test child once ran 90 s and grew to 3 GB).
// Guard cannot help, since nothing panics. So before a read-write Open
// hands the file to the store, the pages a write can free are checked
// against the file: every page reachable from the current meta page and
// the freelist page. A read-only Open never frees a page and skips the
// check, so it still reads what it can.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common), version 2.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elemSize         = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	metaChecksumAt   = 56 // the checksum covers the meta's bytes before it
	noFreelist       = ^uint64(0)
)

// boltMeta is what the check needs of a meta page.
type boltMeta struct {
	root, freelist, hwm, txid uint64
}

// CheckPages checks, reading f (a bbolt file, under its exclusive lock),
// the pages bbolt would trust in a write: from the meta page bbolt uses,
// every branch and leaf page reachable through the buckets, and the
// freelist page. A page must lie inside the file and below the high-water
// mark with its overflow, carry its own id and a branch or leaf type, hold
// its elements, keys and values inside itself, begin with the key its
// parent branch names it by (precheck_keys.go), and be reached once; the
// freelist must fit its page and name only pages below the high-water mark
// that nothing reaches. The first page that fails gives an error wrapping
// ErrCorrupt naming it. A file too short for two meta pages, or whose meta
// pages are both invalid, is left to bbolt, which refuses it. The check
// reads each page's first page-size bytes (more only where its elements
// need it): not the overflow pages of large values.
func CheckPages(f *os.File) error {
	_, err := checkPagesAt(f, nil)
	return err
}

// checkPagesAt is CheckPages; if txid is not nil, it checks only if the
// meta page bbolt uses is that transaction's (checked says whether).
func checkPagesAt(f *os.File, txid *uint64) (checked bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil || !ok || (txid != nil && m.txid != *txid) {
		return false, err
	}
	return true, c.check(m)
}

func (c *pageCheck) check(m boltMeta) error {
	if m.hwm*c.ps > c.size {
		return fmt.Errorf("%w: the file ends at page %d, its pages reach page %d (truncated?)", ErrCorrupt, c.size/c.ps, m.hwm)
	}
	c.hwm = m.hwm
	c.seen = make([]uint64, (m.hwm+63)/64)
	var err error
	if c.noSweep || !c.sweep(m.root) { // precheck_sweep.go: the same verdict, read in file order
		clear(c.seen)
		clear(c.firstKeys)
		c.clearBounds()
		err = c.walk(m.root)
	}
	switch {
	case err != nil:
	case m.freelist != noFreelist:
		err = c.freelist(m.freelist)
	default:
		err = c.keyOrder(m.root) // what bbolt's rebuild of the list checks (precheck_order.go)
	}
	return err
}

type pageCheck struct {
	f        *os.File
	ps, size uint64
	hwm      uint64
	seen     []uint64 // bit per page: reached from the meta
	// metas and metaValid are the two meta pages as meta read them.
	metas     [2]boltMeta
	metaValid [2]bool
	buf       []byte // read's page buffer
	noSweep   bool   // walk only, without the sweep (tests compare the two)
	// firstKeys holds, per page a branch element names, the hash of the
	// element's key (precheck_keys.go).
	firstKeys []uint64
	keySeed   maphash.Seed
	// bounds holds, per page a branch element names, the key its keys
	// must sort before (precheck_bounds.go): where in boundKeys.
	bounds    []uint64
	boundKeys []byte
	// keyBufs hold the keys checkKeyOrder reads past the bytes read.
	keyBufs [2][]byte
	// inlineBuf holds a bucket value checkInlineOrder reads past them.
	inlineBuf []byte
	// damaged, if not nil (a read-only Open's walk), gets the buckets
	// whose pages lead into a cycle (precheck_damaged.go).
	damaged *damagedBuckets
	// misnamed holds, in that walk, the pages not the one their parent
	// names, with the parent's bucket (precheck_damaged.go).
	misnamed map[uint64]uint64
}

// meta returns the meta page bbolt uses (as bbolt's Open and DB.meta
// choose it): the page size from meta page 0 if it is valid, else from
// meta page 1 found as bbolt finds it (getPageSizeFromSecondMeta: at each
// page size from 1 KiB up), else the system's; then the valid meta page
// with the higher transaction id. ok is false if the file is too short or
// neither meta page is valid.
func (c *pageCheck) meta() (m boltMeta, ok bool, err error) {
	var ms [2]boltMeta
	var valid [2]bool
	c.ps = uint64(os.Getpagesize())
	buf := make([]byte, pageHeaderSize+metaChecksumAt+8)
	for i := range 2 {
		if uint64(i)*c.ps+uint64(len(buf)) > c.size {
			return boltMeta{}, false, nil
		}
		if _, err := c.f.ReadAt(buf, int64(uint64(i)*c.ps)); err != nil {
			return boltMeta{}, false, err
		}
		valid[i], ms[i] = readMeta(buf)
		if i == 0 {
			if valid[0] {
				c.ps = uint64(binary.LittleEndian.Uint32(buf[pageHeaderSize+8:]))
			} else if ps, err := c.secondMetaPageSize(buf); err != nil {
				return boltMeta{}, false, err
			} else if ps > 0 {
				// Without it, meta page 1 of a file made with another
				// page size than the system's was looked for in the
				// wrong place, and a damaged meta page 0 let through
				// (TestDamagedMetaPageIsReportedAtAnyPageSize).
				c.ps = ps
			}
		}
	}
	c.metas, c.metaValid = ms, valid
	a, b := 0, 1
	if ms[1].txid > ms[0].txid {
		a, b = 1, 0
	}
	switch {
	case valid[a]:
		return ms[a], true, nil
	case valid[b]:
		return ms[b], true, nil
	}
	return boltMeta{}, false, nil
}

// checkMetas returns an error wrapping ErrCorrupt if one of f's two meta
// pages fails bbolt's validation (magic, version, checksum) while the
// other passes. bbolt then uses the valid one without a word, and if the
// damaged one was the newer, the file opens one transaction back: what
// that transaction held is gone. A power cut while a commit writes its
// meta page can leave the same (the commit never returned), but a meta
// page sits in one sector, which disks write whole; and a store with the
// log keeps every group an apply commit held until bbolt holds it
// durably, so the caller can tell that case by the log (Engine.Open).
// The damaged page's transaction id is read as it stands: it may be the
// damaged byte. Both pages invalid is left to bbolt, which refuses the
// file.
func checkMetas(f *os.File) error {
	_, err := checkMetasTxid(f)
	return err
}

// checkMetasTxid is checkMetas; it also returns the transaction of the
// meta page bbolt uses.
func checkMetasTxid(f *os.File) (txid uint64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil || !ok {
		return 0, err
	}
	for i := range 2 {
		if !c.metaValid[i] {
			return m.txid, fmt.Errorf("%w: bbolt's meta page %d is damaged (it fails bbolt's checksum; it names transaction %d): "+
				"bbolt would use meta page %d (transaction %d) instead, without whatever a newer transaction held",
				ErrCorrupt, i, c.metas[i].txid, 1-i, m.txid)
		}
	}
	return m.txid, nil
}

// CheckMeta runs checkMetas on the store's file at path, if it is tx's
// view of it (as checkTx): Verify reports a damaged meta page, which
// bbolt's page check never reads. A read transaction's meta page on disk
// must also still say what the transaction began from (its root page and
// high-water mark): one written over in place keeps its id, and a
// transaction begun before that (a read-only handle's pooled reads) sees
// none of it, nor does bbolt's page check, which walks the transaction's
// copy; the next Open reads the file's
// (TestH254VerifyOfAReadOnlyHandleSeesAMetaPageWrittenUnderIt).
func CheckMeta(tx *bolt.Tx, path string) error {
	// Opened without waiting: a FIFO put at the path since would hold
	// the open for ever, and is no view of tx's (openRegular).
	f, fi, err := openRegular(os.OpenFile, path, os.O_RDONLY, 0, false)
	if err != nil {
		return notTxsView(err, "open the store's file to check its meta pages")
	}
	defer f.Close()
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil {
		// An I/O error: the pages were not checked, so not found sound.
		return fmt.Errorf("read the store's meta pages: %w", err)
	}
	txid := uint64(tx.ID())
	if tx.Writable() {
		txid--
	}
	if !ok || m.txid != txid {
		return nil
	}
	if err := checkMetas(f); err != nil {
		return err
	}
	if !tx.Writable() {
		// A write transaction's root and size move as it writes.
		root, size := uint64(tx.Cursor().Bucket().Root()), uint64(tx.Size())
		if m.root != root || m.hwm*c.ps != size {
			return fmt.Errorf("%w: the current meta page (transaction %d) names root page %d and %d pages; "+
				"the transaction %d began from root page %d and %d pages: it was written over in place",
				ErrCorrupt, m.txid, m.root, m.hwm, txid, root, size/c.ps)
		}
	}
	return nil
}

// read returns page id's header fields and its first n bytes (at least
// the page size, at most the page with its overflow), after checking that
// the page lies below the high-water mark and inside the file.
func (c *pageCheck) read(id uint64, want uint16, what string) (flags, count uint16, overflow uint64, buf []byte, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s page %d: %s", ErrCorrupt, what, id, fmt.Sprintf(format, a...))
	}
	if id < 2 || id >= c.hwm {
		return 0, 0, 0, nil, bad("outside the file's pages 2-%d", c.hwm-1)
	}
	if uint64(len(c.buf)) != c.ps {
		c.buf = make([]byte, c.ps)
	}
	buf = c.buf // reused: a page's bytes are done with when the next is read
	if _, err := c.f.ReadAt(buf, int64(id*c.ps)); err != nil && err != io.EOF {
		return 0, 0, 0, nil, err
	}
	if got := binary.LittleEndian.Uint64(buf[0:]); got != id {
		return 0, 0, 0, nil, bad("its header says page %d", got)
	}
	flags = binary.LittleEndian.Uint16(buf[8:])
	count = binary.LittleEndian.Uint16(buf[10:])
	overflow = uint64(binary.LittleEndian.Uint32(buf[12:]))
	if !oneTypeOf(flags, want) {
		return 0, 0, 0, nil, bad("unexpected type %#x", flags)
	}
	if id+overflow >= c.hwm {
		return 0, 0, 0, nil, bad("overflow %d reaches past the file's last page %d", overflow, c.hwm-1)
	}
	return flags, count, overflow, buf, nil
}

// oneTypeOf tells whether flags is exactly one of the page types in want.
// bbolt tests a page's type by equality (Page.IsBranchPage: flags ==
// branch): a page typed branch and leaf at once (one flipped bit) is
// neither, and bbolt panics on it in a read or, in a write, reads it as a
// branch (node.read), so its leaf elements name garbage children.
func oneTypeOf(flags, want uint16) bool {
	return flags != 0 && flags&^want == 0 && flags&(flags-1) == 0
}

// extend makes buf hold the first n bytes of page id, whose extent (with
// its overflow) is limit bytes.
func (c *pageCheck) extend(buf []byte, id, n, limit uint64, what string) ([]byte, error) {
	if n > limit {
		return nil, fmt.Errorf("%w: %s page %d: its elements reach byte %d of %d", ErrCorrupt, what, id, n, limit)
	}
	if n <= uint64(len(buf)) {
		return buf, nil
	}
	more := make([]byte, n)
	if _, err := c.f.ReadAt(more, int64(id*c.ps)); err != nil && err != io.EOF {
		return nil, err
	}
	return more, nil
}

// maxInlineNesting bounds inline buckets inside inline buckets: bbolt
// writes none (one level is all a sound file has); a few more are allowed
// so that only a forgery is refused.
const maxInlineNesting = 8

// errPageCycle marks a page that names a page above it (or itself): a
// cursor descending there never reaches a leaf and grows its stack
// without end, so even a read-only Open refuses it.
var errPageCycle = errors.New("a cycle of pages")

// walk checks the tree of pages from root and every bucket under it, in
// depth-first order, keeping the pages on the current path to tell a
// cycle. A cycle ends the walk at once (but see damaged); a page whose
// header is damaged is not descended into, one whose elements are is
// descended into through the elements that passed, and the walk goes on
// past either (a cycle or a damaged bucket behind it must still be found,
// for a read-only Open): the first damaged bucket (errBadBucket), else
// the first error, is returned at the end.
func (c *pageCheck) walk(root uint64) error {
	type ref struct {
		id, from uint64 // from: the page naming id (0: the meta)
		// bucket and fromBucket: the root pages of the buckets whose trees
		// id and from are in.
		bucket, fromBucket uint64
		exit               bool // leaving id: it is off the path now
		root               bool // from is a leaf: id is the root a bucket element names
	}
	onPath := make([]uint64, len(c.seen))
	bit := func(set []uint64, p uint64) bool { return p < c.hwm && set[p/64]&(1<<(p%64)) != 0 }
	var first, bucketErr error
	var path []pathPage // the pages onPath holds, root first
	stack := []ref{{id: root, bucket: root, fromBucket: root}}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		id := r.id
		if r.exit {
			onPath[id/64] &^= 1 << (id % 64)
			path = path[:len(path)-1]
			continue
		}
		if bit(onPath, id) {
			err := fmt.Errorf("%w: page %d names page %d above it: %w", ErrCorrupt, r.from, id, errPageCycle)
			// A read-only Open's walk goes on past a cycle that crosses
			// into another bucket, marking the damaged bucket
			// (precheck_damaged.go); one in a tree's branch pages, which a
			// cursor goes round for ever, or in the top buckets' tree,
			// refuses the file.
			if c.damaged == nil || c.markCycle(path, id, r.fromBucket, root, r.root, err) {
				c.damaged = nil
				return err
			}
			first = cmp.Or(first, err)
			continue
		}
		if bit(c.seen, id) {
			first = cmp.Or(first, fmt.Errorf("%w: page %d is reached twice (named by page %d)", ErrCorrupt, id, r.from))
			continue
		}
		err := c.page(id, func(children []uint64, branch bool) {
			onPath[id/64] |= 1 << (id % 64)
			path = append(path, pathPage{id, r.bucket})
			stack = append(stack, ref{id: id, exit: true})
			for _, ch := range children {
				// A branch's children are in its tree; a leaf's are the
				// roots of the buckets it holds.
				b := ch
				if branch {
					b = r.bucket
				}
				stack = append(stack, ref{id: ch, from: id, bucket: b, fromBucket: r.bucket, root: !branch})
			}
		})
		if err != nil && r.from != 0 {
			err = fmt.Errorf("%w (named by page %d)", err, r.from)
		}
		if errors.Is(err, errBadBucket) {
			bucketErr = cmp.Or(bucketErr, err)
		}
		c.noteMisnamed(id, r.fromBucket, err)
		first = cmp.Or(first, err)
	}
	return cmp.Or(bucketErr, first)
}

// freelist checks the freelist page: its count (0xFFFF: the count is its
// first element) fits the page, and every free page is below the
// high-water mark, named once, and not reachable.
func (c *pageCheck) freelist(id uint64) error {
	_, count, overflow, buf, err := c.read(id, freelistPageFlag, "freelist")
	if err != nil {
		return err
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p/64]&(1<<(p%64)) != 0 {
			return fmt.Errorf("%w: freelist page %d: page %d is also in the tree", ErrCorrupt, id, p)
		}
	}
	limit := (overflow + 1) * c.ps
	start, n := uint64(pageHeaderSize), uint64(count)
	if count == 0xFFFF {
		n = binary.LittleEndian.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if n > limit/8 { // before n*8 can overflow
		return fmt.Errorf("%w: freelist page %d: %d free pages do not fit in it", ErrCorrupt, id, n)
	}
	if buf, err = c.extend(buf, id, start+n*8, limit, "freelist"); err != nil {
		return err
	}
	free := make(map[uint64]struct{}, n)
	for i := range n {
		p := binary.LittleEndian.Uint64(buf[start+i*8:])
		switch _, dup := free[p]; {
		case p < 2 || p >= c.hwm:
			return fmt.Errorf("%w: freelist page %d: free page %d is outside the file's pages 2-%d", ErrCorrupt, id, p, c.hwm-1)
		case dup:
			return fmt.Errorf("%w: freelist page %d: page %d is free twice", ErrCorrupt, id, p)
		case c.seen[p/64]&(1<<(p%64)) != 0:
			return fmt.Errorf("%w: freelist page %d: page %d is free but in use", ErrCorrupt, id, p)
		case p >= id && p <= id+overflow:
			return fmt.Errorf("%w: freelist page %d: names itself free", ErrCorrupt, id)
		}
		free[p] = struct{}{}
	}
	return nil
}

// checkBeforeOpen runs CheckPages on f, which bbolt's read-write Open has
// just opened, before bbolt reads a page of it: bbolt loads the freelist
// inside Open, and a damaged count there asks for terabytes, a fatal
// error no recover catches. It takes the exclusive lock bbolt is about to
// take (waiting until deadline; bbolt then finds it held by the same open
// file and goes on), so no other process writes the file meanwhile. Where
// it cannot lock (outside unix), it reports checked false, and OpenBolt
// checks after Open instead (as checkOpened).
func checkBeforeOpen(f *os.File, deadline time.Time, pageSize int) (checked bool, err error) {
	if locked, err := lockExclusive(f, deadline); err != nil || !locked {
		return false, err
	}
	if err := forgetCutNewFile(f, pageSize); err != nil { // newfile.go
		return true, err
	}
	return true, withDamagedFileAdvice(CheckPages(f))
}

// checkOpened runs CheckPages on f, which bbolt opened read-write, before
// any write can free a page whose header it trusts.
func checkOpened(f *os.File) error { return withDamagedFileAdvice(CheckPages(f)) }

// checkTx runs CheckPages on the store's file at path (not
// tx.DB().Path(): after a Compact that names the temporary file renamed
// away), if the file on disk is tx's view of it: its current meta page is tx's (for a write
// transaction, the one it began from). That holds when no other
// transaction commits meanwhile: for a read-only DB (its shared lock keeps
// writers out) and for Verify's page check, which pauses the applier. bbolt's
// page check (Tx.Check) trusts page headers as a write does: it adds a
// page's id+overflow ids to a map (a damaged overflow: billions), and
// a cursor follows a branch page that names its own ancestor for ever.
// Where the file is not tx's view, nothing is checked.
func checkTx(tx *bolt.Tx, path string) error {
	f, _, err := openRegular(os.OpenFile, path, os.O_RDONLY, 0, false) // as CheckMeta
	if err != nil {
		return notTxsView(err, "open the store's file to check its pages")
	}
	defer f.Close()
	txid := uint64(tx.ID())
	if tx.Writable() {
		txid-- // a write transaction's id is one past the meta it began from
	}
	_, err = checkPagesAt(f, &txid)
	return err
}

// notTxsView is what CheckMeta and checkTx make of an error opening the
// store's file: nothing when the path holds no file of tx's (gone, or
// something other than a regular file put there since: Compact swapped
// it, or a FIFO), and err itself otherwise. An I/O error (EIO) was taken
// for the file having moved, and Verify called a file it could not open
// clean (h172_verify_eio_linux_test.go).
func notTxsView(err error, what string) error {
	var nr *errNotRegular
	if errors.Is(err, os.ErrNotExist) || errors.As(err, &nr) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readMeta tells whether buf (a meta page's header and body, up to its
// checksum) is a valid bbolt meta page, and what it says.
func readMeta(buf []byte) (bool, boltMeta) {
	b := buf[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(b[:metaChecksumAt])
	valid := binary.LittleEndian.Uint32(b[0:]) == boltMagic &&
		binary.LittleEndian.Uint32(b[4:]) == boltVersion &&
		binary.LittleEndian.Uint64(b[metaChecksumAt:]) == h.Sum64()
	return valid, boltMeta{
		root:     binary.LittleEndian.Uint64(b[16:]),
		freelist: binary.LittleEndian.Uint64(b[32:]),
		hwm:      binary.LittleEndian.Uint64(b[40:]),
		txid:     binary.LittleEndian.Uint64(b[48:]),
	}
}

// secondMetaPageSize looks for a valid meta page 1 as bbolt does when
// meta page 0 is not valid: at each page size from 1 KiB to 16 MiB that
// the file reaches past, and returns the page size it says (0: none
// found). buf is scratch room of a meta page's size.
func (c *pageCheck) secondMetaPageSize(buf []byte) (uint64, error) {
	for i := range 15 {
		pos := uint64(1024) << i
		if pos+uint64(len(buf)) > c.size {
			break
		}
		if _, err := c.f.ReadAt(buf, int64(pos)); err != nil {
			return 0, err
		}
		if valid, _ := readMeta(buf); valid {
			if ps := uint64(binary.LittleEndian.Uint32(buf[pageHeaderSize+8:])); ps == pos {
				return ps, nil
			}
		}
	}
	return 0, nil
}

// CheckTxPages runs CheckPages on the store's file at path if the file on
// disk is tx's view of it (as checkTx: with the applier paused, Hold).
// Maintenance that deletes runs it before its first write: damage that
// came after Open (a read-write Open checks the pages first) would
// otherwise steer its deletes through a damaged page id or branch key into
// another bucket's pages, which the commit then frees and reuses (kept
// values lost, the file left unreadable).
func CheckTxPages(tx *bolt.Tx, path string) error { return checkTx(tx, path) }
