package engine

// A torn last record of a big open group. While the fsync of group A is
// held, sixteen writers (Sync, NoSync, Async) each queue ops that join one
// open group G; A's fsync then ends, G is logged as one record, and its
// fsync is held in turn. That moment is a crash's: A and what came before
// are acknowledged, nothing of G is (its Sync and NoSync ops wait for its
// fsync, its Async ops for a Flush). A power cut there may leave any prefix
// of G's record written over what the file held before (preallocated
// zeros, or, after the log rewound, the records of an earlier pass): at
// every byte of the record, the log must read whole up to A with nothing
// of G, and Open on the crash's files must hold every acknowledged write
// and none of G; only the record whole may bring G back, all of it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestTornLastRecordOfABigOpenGroup(t *testing.T) {
	t.Parallel()
	for _, rewound := range []bool{false, true} {
		t.Run(fmt.Sprintf("rewound %v", rewound), func(t *testing.T) {
			t.Parallel()
			h32TornGroup(t, rewound)
		})
	}
}

func h32TornGroup(t *testing.T, rewound bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	// phase 1: the next fsync is A's, held (the log as it is then saved
	// in pre); phase 2: the next is G's, held (db and log saved).
	var phase atomic.Int32
	var pre, post, postDB []byte
	inA, relA := make(chan struct{}), make(chan struct{})
	inG, relG := make(chan struct{}), make(chan struct{})
	var relAOnce, relGOnce sync.Once
	releaseA := func() { relAOnce.Do(func() { close(relA) }) }
	release := func() { releaseA(); relGOnce.Do(func() { close(relG) }) }
	defer release()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
		}
		return b
	}
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{HoldApplier: true, LogGrow: 64 << 10, SyncLog: func(f *os.File) error {
			if clearingHead(f) {
				// Rewound: the fsync that clears the first pass's first
				// record before A goes over it (Log.ClearHead), not A's.
				return Fdatasync(f)
			}
			switch {
			case phase.CompareAndSwap(1, 0):
				pre = read(path + "-wal")
				close(inA)
				<-relA
			case phase.CompareAndSwap(2, 0):
				// HoldApplier: nothing writes bbolt's file but the
				// commit loop's Solo, which waits for this fsync.
				post, postDB = read(path+"-wal"), read(path)
				close(inG)
				<-relG
			}
			return Fdatasync(f)
		}}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	acked := map[string]string{}
	putKV := func(k, v string) *Op {
		return &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}
	}
	for i := range 24 {
		k, v := fmt.Sprintf("before/%02d", i), fmt.Sprintf("v%02d-%s", i, bytes.Repeat([]byte{'b'}, 200+i*40))
		if err := do(e, putKV(k, v)); err != nil {
			t.Fatal(err)
		}
		acked[k] = v
	}
	if rewound {
		// Applied whole: the log rewinds, and A and G go over the
		// records of this first pass.
		if err := do(e, &Op{Solo: func() error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	phase.Store(1)
	a := putKV("a", "va")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inA
	// G: sixteen writers, three ops each, every one taken into the open
	// group before A's fsync ends.
	const writers, each = 16, 3
	gKeys := map[string]string{}
	var ops []*Op
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("g/w%02d/%d", w, i)
				v := fmt.Sprintf("%s=%s", k, bytes.Repeat([]byte{byte('a' + w)}, 50+w*13+i*7))
				op := putKV(k, v)
				op.Ctx = context.Background()
				op.NoSync = w%3 == 2
				if w%3 != 0 {
					op.Done = make(chan error, 1)
				}
				applied := make(chan struct{})
				apply := op.Apply
				op.Apply = func(w Writer) error { defer close(applied); return apply(w) }
				if err := e.Send(op.Ctx, op); err != nil {
					t.Error(err)
					return
				}
				<-applied
				mu.Lock()
				gKeys[k] = v
				ops = append(ops, op)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, op := range ops {
		if op.Done != nil && len(op.Done) != 0 {
			t.Fatalf("an op of G was acknowledged before A's fsync ended")
		}
	}
	phase.Store(2)
	releaseA()
	if err := <-a.Done; err != nil {
		t.Fatal(err)
	}
	acked["a"] = "va"
	<-inG
	for _, op := range ops {
		if op.Done != nil && len(op.Done) != 0 {
			t.Fatalf("an op of G was acknowledged before its fsync ended")
		}
	}
	// G's record: the last one the chain holds in post.
	id := binary.BigEndian.Uint64(post[16:])
	var gOff, gEnd int
	var aGen uint64
	for off := logHeader; ; {
		r, ok := parseRecord(post, off, id, logVersion)
		if !ok || r.gen <= aGen { // the end, or a record of the first pass
			break
		}
		aGen, gOff, gEnd = r.gen-1, off, off+r.size
		off += r.size
	}
	applied := e.Applied()
	sc, err := scanLog(path+"-wal", post, applied, LogBinding{})
	if err != nil || sc.Damage != nil || len(sc.Groups) == 0 {
		t.Fatalf("the log with G whole: %v, %+v", err, sc)
	}
	if last := sc.Groups[len(sc.Groups)-1]; last.Gen != aGen+1 || len(last.Muts) != writers*each || gEnd != gOff+last.Size {
		t.Fatalf("the last record holds group %d of %d changes (%d bytes), want G: group %d of %d", last.Gen, len(last.Muts), last.Size, aGen+1, writers*each)
	}
	if len(pre) < len(post) {
		pre = append(pre, make([]byte, len(post)-len(pre))...)
	}
	if rewound && bytes.Equal(pre[gOff:gEnd], make([]byte, gEnd-gOff)) {
		t.Fatal("G's record went over zeros: the log did not rewind over the first pass")
	}
	img := make([]byte, len(post))
	// Every byte of the record's header and of its first and last 64
	// bytes, and a byte every stride in between (CKPT_H32_TORN_EVERY=1:
	// every byte; some 8,500 scans, 100 s under -race).
	stride := 41
	if v, err := strconv.Atoi(os.Getenv("CKPT_H32_TORN_EVERY")); err == nil && v > 0 {
		stride = v
	}
	// Open on a crash's files at these cuts (every cut taken is scanned).
	openAt := map[int]bool{gOff: true, gEnd: true, gEnd - 1: true}
	for c := gOff; c <= gOff+recHeader+8; c++ {
		openAt[c] = true
	}
	for c := gOff; c < gEnd; c += (gEnd - gOff) / 16 {
		openAt[c-(c-gOff)%stride] = true // a cut the loop below takes
	}
	opened, scanned := 0, 0
	for c := gOff; c <= gEnd; c++ {
		if c > gOff+recHeader+64 && c < gEnd-64 && (c-gOff)%stride != 0 {
			continue
		}
		scanned++
		copy(img, post[:c])
		copy(img[c:], pre[c:])
		sc, err := scanLog(path+"-wal", img, applied, LogBinding{})
		if err == nil && sc.Damage != nil {
			err = sc.Damage.Err(path + "-wal")
		}
		if err != nil {
			t.Fatalf("G's record written up to offset %d of %d-%d: the log is refused: %v", c, gOff, gEnd, err)
		}
		var last uint64
		if n := len(sc.Groups); n > 0 {
			last = sc.Groups[n-1].Gen
		}
		// Whole once the cut passes the record's last byte that differs
		// from what was there (its padding may be zeros over zeros).
		whole := bytes.Equal(img[gOff:gEnd], post[gOff:gEnd])
		want := aGen
		if whole {
			want = aGen + 1
		}
		if max(last, applied) != want {
			t.Fatalf("G's record written up to offset %d of %d-%d: the log holds groups up to %d, want %d", c, gOff, gEnd, last, want)
		}
		if !openAt[c] {
			continue
		}
		opened++
		cp := filepath.Join(dir, fmt.Sprintf("crash-%d.db", c))
		if err := os.WriteFile(cp, postDB, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+"-wal", img, 0o600); err != nil {
			t.Fatal(err)
		}
		o := opts
		o.LogPath, o.Hooks = cp+"-wal", Hooks{}
		r, err := Open(cp, o)
		if err != nil {
			t.Fatalf("G's record written up to offset %d of %d-%d: Open: %v", c, gOff, gEnd, err)
		}
		got := map[string]string{}
		if err := r.View(context.Background(), func(rd Reader) error {
			for k := range acked {
				got[k] = string(rd.Get(testBucket, []byte(k)))
			}
			for k := range gKeys {
				got[k] = string(rd.Get(testBucket, []byte(k)))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for k, v := range acked {
			if got[k] != v {
				t.Errorf("cut at %d: acknowledged %s reads %d bytes, want %d", c, k, len(got[k]), len(v))
			}
		}
		for k, v := range gKeys {
			if want := map[bool]string{true: v}[whole]; got[k] != want {
				t.Errorf("cut at %d of %d-%d: %s of G reads %q, want %q", c, gOff, gEnd, k, got[k], want)
			}
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		os.Remove(cp)
		os.Remove(cp + "-wal")
	}
	release()
	for _, op := range ops {
		if op.Done != nil {
			if err := <-op.Done; err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("G: %d ops, record of %d bytes at %d; %d cuts scanned, %d opened", len(ops), gEnd-gOff, gOff, scanned, opened)
}
