//go:build linux

package ckpt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// RecoverLog, then a read-write Open, on a full file system (a small
// tmpfs filled up to 0 to 300 KiB of free space), for a killed store's
// log whose damage costs no group (a record bbolt holds, the header, a
// proof past the mark: LogDamage.Resumed) or ends in a power cut's tail
// after such damage (PowerCut). Whatever fails must fail with
// ErrDiskFull (the Open after it with ErrCorrupt too), and leave what a
// recovery with room finishes to exactly the reads of a recovery that
// had room; a RecoverLog after that changes nothing.
func TestResumedRecoveryOnAFullDisk(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a full file system needs a tmpfs mount: not root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(16<<20)); err != nil {
		t.Skipf("a full file system needs a tmpfs mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	cp, _, _, spans := heldAndLoggedStore(t)
	mark := readMark(t, cp)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	cut := append([]byte(nil), data...)
	for _, r := range engine.RecordSpans(data) {
		if r.Proof && r.Gen >= 5 {
			clear(cut[r.Off:r.End])
		}
	}
	for _, c := range []struct {
		name string
		log  []byte
		at   int64
	}{
		{"a record bbolt holds", data, spans[0].End - 8},
		{"the header", data, 17},
		{"a proof past the mark", data, proofOf(t, data, mark+1).End - 8},
		{"a record bbolt holds, a power cut's tail", cut, spans[0].End - 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := flippedLogCopy(t, cp, c.log, c.at, 0x10)
			ref := h145Copy(t, base)
			st, err := RecoverLog(ref, Options{})
			if err != nil || !(st.KeptAll || st.PowerCut) {
				t.Fatalf("RecoverLog with room = %+v, %v: want the damage passed (KeptAll or PowerCut)", st, err)
			}
			want := storeReads(t, ref)
			var failed, openFailed int
			for i, free := range []int64{0, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 300 << 10} {
				dir := filepath.Join(mnt, fmt.Sprintf("%s-%d", filepath.Base(filepath.Dir(base)), i))
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{filepath.Base(base), filepath.Base(base) + walSuffix} {
					copyFileIn(t, filepath.Join(filepath.Dir(base), n), filepath.Join(dir, n))
					h145Sparse(t, filepath.Join(dir, n))
				}
				p := filepath.Join(dir, filepath.Base(base))
				filler := h145Fill(t, mnt, free)
				what := fmt.Sprintf("%d bytes free", free)
				if _, err := RecoverLog(p, Options{}); err != nil {
					failed++
					if !errors.Is(err, ErrDiskFull) {
						t.Errorf("%s: RecoverLog: %v, want ErrDiskFull", what, err)
					}
				}
				if s, err := Open(p, Options{}); err == nil {
					_ = s.Close()
				} else {
					openFailed++
					if !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: read-write Open: %v, want ErrDiskFull or ErrCorrupt", what, err)
					}
				}
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				q := h145Copy(t, p)
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				s, err := Open(q, Options{})
				if errors.Is(err, ErrCorrupt) {
					if _, err := RecoverLog(q, Options{}); err != nil {
						t.Fatalf("%s, then with room: RecoverLog: %v", what, err)
					}
					s, err = Open(q, Options{})
				}
				if err != nil {
					t.Fatalf("%s, then with room: Open: %v", what, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if got := storeReads(t, q); got != want {
					t.Errorf("%s, then with room: the store reads differently from a recovery that had room", what)
				}
				if st, err := RecoverLog(q, Options{}); err != nil || st != (RecoverStats{}) {
					t.Errorf("%s: RecoverLog on the recovered store = %+v, %v; want nothing done", what, st, err)
				}
			}
			t.Logf("9 rounds: RecoverLog failed in %d, the read-write Open after it in %d", failed, openFailed)
		})
	}
}
