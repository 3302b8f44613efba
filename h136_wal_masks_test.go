package ckpt

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestLogEveryByteUnderMoreMasks is TestLogEveryFlippedByte's sweep with
// other masks (0x01, 0x80, 0xff): every byte of the log of a store killed
// with groups logged and not applied. By default a sample (every 1999th
// byte, one mask each); CKPT_SWEEP_WAL=all sweeps every byte with every
// mask (a padded proof's zeros every 31st: 49,797 flips held on
// 2026-12-05, 15 min in two shards), CKPT_SWEEP_WAL_SHARD=k/n one n-th.
func TestLogEveryByteUnderMoreMasks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("opens each store twice per byte")
	}
	if raceBuild {
		// One goroutine reading files back: -race adds nothing but time
		// (30-100 s a run on a loaded 2-core machine).
		t.Skip("a sweep of damaged files, run without -race")
	}
	all := os.Getenv("CKPT_SWEEP_WAL") == "all"
	shard, shards := 0, 1
	if s := os.Getenv("CKPT_SWEEP_WAL_SHARD"); s != "" {
		k, n, _ := strings.Cut(s, "/")
		shard, _ = strconv.Atoi(k)
		shards, _ = strconv.Atoi(n)
	}
	masks := []byte{0x01, 0x80, 0xff}
	n := 0
	for _, c := range []*logSweepCase{
		newLogSweepCase(t, "first pass", 0, 4),
		newLogSweepCase(t, "second pass", 6, 3),
	} {
		// A padded proof's zeros (up to 4 KiB after each Save) are alike:
		// every 31st of them.
		padding := map[int]bool{}
		for _, r := range engine.RecordSpans(c.wal) {
			if r.Proof {
				for p := int(r.Off) + engine.RecordHeaderSize + 8; p < int(r.End); p++ {
					padding[p] = true
				}
			}
		}
		for pos := 0; pos < len(c.wal)+16 && pos < c.walLen; pos++ {
			if padding[pos] && pos%31 != 0 {
				continue
			}
			for mi, mask := range masks {
				if !all && (pos%1999 != 0 || pos/1999%len(masks) != mi) {
					continue
				}
				if n++; n%shards != shard {
					continue
				}
				wal := make([]byte, max(len(c.wal)+16+24, pos+1))
				copy(wal, c.wal)
				wal[pos] ^= mask
				c.check(t, fmt.Sprintf("byte %d ^ %#x", pos, mask), wal)
			}
		}
	}
	t.Logf("%d flips (shard %d/%d)", n, shard, shards)
}
