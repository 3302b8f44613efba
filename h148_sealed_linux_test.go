//go:build linux

package ckpt_test

// h148: TestH146FaultChains's sealed rounds rotate keys and Rekey under the
// faults (a new key put first at a reopen; after a Rekey that returned
// nil the next reopen drops the older keys, so a record left under one
// fails the check), open the store without keys now and then (no value
// may read), and ImportFile a thread's dump into a new path (a failed or
// killed one leaves no file there, and a second ImportFile into the path
// works; one that returned nil holds the thread).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// h148Keys returns the keys of ids ("147,146", newest first; "" is 146).
func h148Keys(ids string) []ckpt.Key {
	if ids == "" {
		ids = "146"
	}
	var keys []ckpt.Key
	for f := range strings.SplitSeq(ids, ",") {
		id, _ := strconv.ParseUint(f, 10, 32)
		k := ckpt.Key{ID: uint32(id)}
		for i := range k.Secret {
			k.Secret[i] = byte(i*7 + int(id) - 146) // key 146: what h146 used
		}
		keys = append(keys, k)
	}
	return keys
}

// modeKeys is the round's mode for h146ModeOpts, with ids for a sealed one.
func (r *h146Run) modeKeys(ids []uint32) string {
	if r.mode != "sealed" {
		return r.mode
	}
	f := make([]string, len(ids))
	for i, id := range ids {
		f[i] = strconv.FormatUint(uint64(id), 10)
	}
	return "sealed:" + strings.Join(f, ",")
}

// rotateKeys, before a reopen of a sealed round: the older keys go once a
// Rekey returned nil, or a new key comes first now and then.
func (r *h146Run) rotateKeys() {
	if r.mode != "sealed" {
		return
	}
	switch {
	case r.dropOld:
		r.keys, r.dropOld = r.keys[:1], false
		r.logf("keys %v: a Rekey returned nil, the older keys are dropped", r.keys)
		r.stats["keys-dropped"]++
	case r.rng.IntN(3) == 0 && len(r.keys) < 4:
		n := slices.Max(r.allKeys) + 1
		r.keys = append([]uint32{n}, r.keys...)
		r.allKeys = append(r.allKeys, n)
		r.logf("keys %v: a new key first", r.keys)
		r.stats["keys-new"]++
	default:
		return
	}
	r.opts = ckpt.WithFaultPoints(h146ModeOpts(r.modeKeys(r.keys)), 64<<10, r.arm.at)
}

// rekeyed: a Rekey on the open store returned nil: the store is sealed
// under the newest key alone.
func (r *h146Run) rekeyed() {
	r.stats["rekeyed"]++
	ids, err := r.s.SealedKeys(r.ctx)
	if err != nil || !slices.Equal(ids, r.keys[:1]) {
		r.fail("SealedKeys after a Rekey that returned nil: %v %v, want %v", ids, err, r.keys[:1])
	}
}

// keyless, now and then in a sealed round after a checked reopen: the
// store opened without keys lists everything and reads no value.
func (r *h146Run) keyless() {
	if r.mode != "sealed" || r.rng.IntN(3) != 0 {
		return
	}
	r.closeStore()
	for _, p := range h148ReadsWithoutKeys(r, r.path) {
		r.fail("%s", p)
	}
	s, err := ckpt.Open(r.path, r.opts)
	if err != nil {
		r.t.Fatalf("%s: open after the keyless look: %v", r.name, err)
	}
	r.s = s
	r.stats["keyless"]++
}

// h148ReadsWithoutKeys opens path without keys and returns the values
// and pending writes that read (or failed otherwise than with ErrKey).
func h148ReadsWithoutKeys(r *h146Run, path string) []string {
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return []string{fmt.Sprintf("%s opened without keys: %v", path, err)}
	}
	defer s.Close()
	var bad []string
	for tp, err := range s.List(r.ctx, ckpt.ListOptions{}) {
		if err != nil {
			return append(bad, fmt.Sprintf("List without keys: %v", err))
		}
		var v string
		if err := tp.Decode("v", &v); !errors.Is(err, ckpt.ErrKey) {
			bad = append(bad, fmt.Sprintf("thread %q checkpoint %s without keys: value %.20q, error %v (want ErrKey)", tp.Config.ThreadID, tp.Config.CheckpointID, v, err))
		}
		for _, w := range tp.PendingWrites {
			if err := w.Value.Decode(&v); !errors.Is(err, ckpt.ErrKey) {
				bad = append(bad, fmt.Sprintf("thread %q checkpoint %s without keys: pending write %s/%s %.20q, error %v (want ErrKey)", tp.Config.ThreadID, tp.Config.CheckpointID, w.TaskID, w.Channel, v, err))
			}
		}
	}
	return bad
}

// checkImportFile checks what an ImportFile left at b.path (statErr its
// Stat) and says whether it is done with it: a failed one left nothing,
// one that returned nil left the file (and no new file beside it), and
// where nothing is, a second ImportFile into the path works. A file a
// killed one left is checked as any import store (whole).
func (r *h146Run) checkImportFile(b *h146Backup, statErr error) bool {
	name := b.path[strings.LastIndex(b.path, "/")+1:]
	r.stats[fmt.Sprintf("importfile-%s-%t", []string{"ok", "err", "killed"}[b.st], statErr == nil)]++
	if _, err := os.Stat(b.path + ".import"); err == nil && b.st == h146OK {
		r.fail("ImportFile %s returned nil and left %s.import", name, name)
	}
	switch {
	case statErr == nil && b.st == h146Err:
		r.fail("ImportFile %s failed and left a file at the path", name)
		return true
	case statErr == nil:
		if r.mode == "sealed" {
			for _, p := range h148ReadsWithoutKeys(r, b.path) {
				r.fail("ImportFile %s: %s", name, p)
			}
		}
		return false
	case b.st == h146OK:
		r.fail("ImportFile %s returned nil and nothing is at the path: %v", name, statErr)
		return true
	}
	// Failed or killed, nothing at the path (maybe a leftover beside it):
	// an ImportFile again into it.
	opts := h146ModeOpts(r.modeKeys(r.keys))
	src, err := ckpt.Open(b.path+".src", opts)
	if err != nil {
		r.t.Fatal(err)
	}
	defer os.Remove(b.path + ".src")
	_, err = src.Save(r.ctx, "again", map[string]any{"v": "again"}, nil)
	var buf bytes.Buffer
	if err == nil {
		_, err = src.Export(r.ctx, &buf, ckpt.ExportOptions{})
	}
	if err = errors.Join(err, src.Close()); err != nil {
		r.t.Fatal(err)
	}
	if _, err := ckpt.ImportFile(r.ctx, b.path, &buf, opts, ckpt.ImportOptions{}); err != nil {
		r.fail("ImportFile again into %s after one that failed or was killed: %v", name, err)
		return true
	}
	s, err := ckpt.Open(b.path, opts)
	if err != nil {
		r.fail("open %s after ImportFile again: %v", name, err)
		return true
	}
	defer s.Close()
	var got []string
	for tp, err := range s.List(r.ctx, ckpt.ListOptions{}) {
		var v string
		if err == nil {
			err = tp.Decode("v", &v)
		}
		got = append(got, fmt.Sprintf("%s=%s %v", tp.Config.ThreadID, v, err))
	}
	if !slices.Equal(got, []string{"again=again <nil>"}) {
		r.fail("%s after ImportFile again holds %q, want the dump's one checkpoint", name, got)
	}
	for _, suf := range []string{".import", ".import-wal"} {
		if _, err := os.Stat(b.path + suf); err == nil {
			r.fail("ImportFile again into %s left %s", name, name+suf)
		}
	}
	r.stats["importfile-again"]++
	return true
}
