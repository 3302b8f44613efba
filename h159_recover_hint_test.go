package ckpt

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecoverHintNamesADamagedLiveMark: h158ThreeWays's file (its mark cut
// to 7 bytes, its binding gone) with its live mark damaged too (cut to 7
// bytes: a live mark is still there, naming no identity). Recovery must
// refuse (nothing says where the mark was), and its error must say why:
// the live mark is damaged. It said the live mark "is gone, or the store
// was closed cleanly", which is false for this file: the mark is there
// and says a log was live.
func TestRecoverHintNamesADamagedLiveMark(t *testing.T) {
	t.Parallel()
	cp := h158ThreeWays(t)
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyWALLive)
		return tx.Bucket(bucketMeta).Put(keyWALLive, append([]byte(nil), v[:7]...))
	})
	msg := recoverRefuses(t, cp)
	if strings.Contains(msg, "live mark is gone") || strings.Contains(msg, "closed cleanly") || !strings.Contains(msg, "live mark is damaged") {
		t.Errorf("RecoverLog's error does not say the file's live mark is damaged:\n%s", msg)
	}
}
