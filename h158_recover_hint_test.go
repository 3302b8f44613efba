package ckpt

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A file damaged three ways: its mark stored 7 bytes long, its binding to
// its log gone, and so nothing in the file says where the mark was but
// the first record of the log its live mark names; that record's header
// is cleared too. Recovery must refuse (where the mark was is unknown),
// and its error must say why the live log did not tell: its first
// record's header is damaged. It said the log "is not the log the file's
// live mark names, or the file names none", which was false: the log is
// that one. The other ways the live log cannot tell are told apart too:
// another log beside the file (its identity is not the live mark's) and
// a file whose live mark is gone as well.

// h158ThreeWays is h149Applied's killed store (the file holds groups 1-4,
// its live log 5-7) with its mark cut to 7 bytes and its binding gone.
func h158ThreeWays(t *testing.T) string {
	t.Helper()
	cp, _ := h149Applied(t)
	cutMark(t, cp)
	editClosedFile(t, cp, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLog) })
	return cp
}

// liveID returns the identity the file at path's live mark names.
func liveID(t *testing.T, path string) uint64 {
	t.Helper()
	var id uint64
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyWALLive)
		if len(v) < 8 {
			return fmt.Errorf("the live mark is %d bytes", len(v))
		}
		id = binary.BigEndian.Uint64(v)
		return nil
	})
	return id
}

// recoverRefuses runs RecoverLog on path, which must refuse with
// ErrCorrupt and change nothing; it returns the error's text.
func recoverRefuses(t *testing.T, path string) string {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := RecoverLog(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("RecoverLog = %+v, %v; want it refused as corrupt", st, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("the refused RecoverLog changed the file")
	}
	return err.Error()
}

func TestRecoverHintNamesTheLiveLogsDamagedFirstRecord(t *testing.T) {
	t.Parallel()
	cp := h158ThreeWays(t)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[24 : 24+24]) // the first record's header, after the log's
	if err := os.WriteFile(cp+walSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	msg := recoverRefuses(t, cp)
	if strings.Contains(msg, "not the log the file's live mark names") || !strings.Contains(msg, "first record") {
		t.Errorf("RecoverLog's error does not name the live log's damaged first record:\n%s", msg)
	}
}

func TestRecoverHintNamesAnotherLogBesideTheFile(t *testing.T) {
	t.Parallel()
	cp := h158ThreeWays(t)
	other, _ := h149Applied(t)
	data, err := os.ReadFile(other + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp+walSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	msg := recoverRefuses(t, cp)
	if want := fmt.Sprintf("%016x", liveID(t, cp)); !strings.Contains(msg, want) || strings.Contains(msg, "first record") {
		t.Errorf("RecoverLog's error does not say the log is not the live one (%s):\n%s", want, msg)
	}
}

func TestRecoverHintNamesAFileWithNoLiveMark(t *testing.T) {
	t.Parallel()
	cp := h158ThreeWays(t)
	editClosedFile(t, cp, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLive) })
	msg := recoverRefuses(t, cp)
	if !strings.Contains(msg, "no live log") || strings.Contains(msg, "first record") {
		t.Errorf("RecoverLog's error does not say the file names no live log:\n%s", msg)
	}
}
