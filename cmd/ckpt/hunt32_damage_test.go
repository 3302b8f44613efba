//go:build unix

package main

// Session 11, h32: the CLI damage hunt (hunt31_damage_test.go) extended
// to the commands it left out, cp, backup, recover and rekey, and to
// encrypted stores. The promise is hunt31's: every command either exits 0
// with what is true or exits non-zero with one line on stderr naming the
// damage; a write command never makes the damage worse silently; verify
// fails whenever another command failed or differed. Per command:
//
//   - cp: exit 0 and the store then reads (every checkpoint, its values,
//     metadata and pending writes, opened with the store's keys) as the
//     intact file does after the same cp.
//   - backup SRC DST (DST new): refused, with no DST left, or exit 0 and
//     DST exports what the intact file's backup exports, and verify of
//     DST is clean.
//   - recover: exit 0 and every checkpoint and pending write the file
//     then holds is one the intact file holds, or one the intact file's
//     own recovery keeps when its log is cut where the damaged log's
//     damage starts (recover keeps the records before the damage).
//   - rekey (plain stores: sealed under a new key; encrypted: new key,
//     old key): exit 0 and the store reads with the new key alone as the
//     intact file does.
//
// Encrypted stores (the hunt's stores written under a key) run hunt31's
// whole round too: its read commands, gc, compact, rm, export and import,
// and verify, each given the key.
//
// Rounds: CKPT_HUNT32_ROUNDS (default 1 per fixture), seed
// CKPT_HUNT32_SEED (default 32, logged); CKPT_HUNT31_KEEP=DIR keeps the
// damaged files of a failing round there.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
)

const (
	// h32KeyedEnv makes h31Writer seal under h32OldKey.
	h32KeyedEnv = "CKPT_TEST_H32_KEYED"
	// h32DigestEnv makes the test binary print the digest of the store at
	// its value (opened read-only with the key files of h32KeysEnv).
	h32DigestEnv = "CKPT_TEST_H32_DIGEST"
	h32KeysEnv   = "CKPT_TEST_H32_KEYS"
)

func init() {
	if path := os.Getenv(h32DigestEnv); path != "" {
		os.Exit(h32DigestChild(path))
	}
}

func h32OldKey() ckpt.Key { return cliKey(1, 3) }
func h32NewKey() ckpt.Key { return cliKey(2, 9) }

// h32WriterKey is the key h31Writer seals under (nil: plain).
func h32WriterKey() *ckpt.Encryption {
	if os.Getenv(h32KeyedEnv) == "" {
		return nil
	}
	return &ckpt.Encryption{Keys: []ckpt.Key{h32OldKey()}}
}

// h32Fix is one of hunt31's fixtures with what h32 needs beside it.
type h32Fix struct {
	*h31Fix
	keyed            bool
	oldKey, newKey   string            // key files (absolute)
	digests          map[string]string // cached digests of intact runs
	recoverReference map[int64]h32Ref
	lastRecord       [2]int // where the intact log's last record starts and ends
	logFrom          uint64 // the group before the intact log's first (ScanLog's applied)
}

// h32Ref is what the intact file's recovery keeps with its log cut at an
// offset: its digest, and the set of its lines and the intact file's.
type h32Ref struct {
	exact string
	lines map[string]bool
}

// keyFiles are the key files that open the fixture's store.
func (f *h32Fix) keyFiles() []string {
	if f.keyed {
		return []string{f.oldKey}
	}
	return nil
}

func h32Fixtures(t *testing.T) []*h32Fix {
	t.Helper()
	kdir := t.TempDir()
	writeKey := func(name string, k ckpt.Key) string {
		p := filepath.Join(kdir, name)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("%d %s\n", k.ID, hex.EncodeToString(k.Secret[:]))), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldKey, newKey := writeKey("old.key", h32OldKey()), writeKey("new.key", h32NewKey())
	var out []*h32Fix
	for _, f := range h31Fixtures(t) {
		out = append(out, &h32Fix{h31Fix: f, oldKey: oldKey, newKey: newKey})
	}
	dir := t.TempDir()
	sealed := filepath.Join(dir, "sealed")
	if err := os.MkdirAll(sealed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h31BuildWith(filepath.Join(sealed, "f.db"), &ckpt.Encryption{Keys: []ckpt.Key{h32OldKey()}}); err != nil {
		t.Fatal(err)
	}
	sealedLog := filepath.Join(dir, "sealed-logged")
	if err := os.MkdirAll(sealedLog, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), h31WriterEnv+"="+filepath.Join(sealedLog, "f.db"), h32KeyedEnv+"=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v\n%s", err, b)
	}
	for _, d := range []struct{ name, dir string }{{"sealed", sealed}, {"sealed-logged", sealedLog}} {
		f := &h31Fix{name: d.name, dir: d.dir, flags: []string{"--key-file", oldKey}}
		f.load(t)
		out = append(out, &h32Fix{h31Fix: f, keyed: true, oldKey: oldKey, newKey: newKey})
	}
	for _, f := range out {
		if wal, ok := f.files["f.db-wal"]; ok {
			f.lastRecord, f.logFrom = h32LastRecord(t, wal)
		}
		f.digests = map[string]string{}
		f.recoverReference = map[int64]h32Ref{}
	}
	return out
}

// h32LastRecord is where the last record of the intact log wal starts and
// ends. A damaged last record is what a write cut short by a crash leaves
// (never acknowledged): every Open drops it without a word
// (docs/durability.md, "A damaged log"), and the store reads one group
// short. The hunt damages the log elsewhere, where the store can tell
// damage from a crash.
func h32LastRecord(t *testing.T, wal []byte) ([2]int, uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db-wal")
	if err := os.WriteFile(path, wal, 0o600); err != nil {
		t.Fatal(err)
	}
	from := uint64(0)
	sc, err := engine.ScanLog(path, 0)
	if err == nil && sc.Damage != nil && sc.Damage.LaterFirst > 0 {
		// The log starts past group 1 (the groups before went into the
		// file): from there.
		from = sc.Damage.LaterFirst - 1
		sc, err = engine.ScanLog(path, from)
	}
	if err != nil || sc.Damage != nil || len(sc.Groups) == 0 {
		t.Fatalf("the intact log: %v, %d groups, damage %+v", err, len(sc.Groups), sc.Damage)
	}
	const logHeader = 24 // internal/engine/wal.go
	start := logHeader
	for _, g := range sc.Groups[:len(sc.Groups)-1] {
		start += g.Size
	}
	return [2]int{start, start + sc.Groups[len(sc.Groups)-1].Size}, from
}

// h32PowerCut tells whether every Open drops the damaged log wal (read
// from the group after from) as a power cut's: a bad record followed only
// by records written before it was durable (docs/durability.md, "A
// damaged log"). The writer's groups are NoSync, and whether a later
// record vouches for an earlier one depends on when the syncer's fsyncs
// fell; a record no later one vouches for, damaged, is what a power cut
// leaves, dropped without a word as the last record is (h32LastRecord),
// and the store then reads those groups short. CI met it once: a byte of
// the group deleting w2 flipped, w2 still listed after an exit 0.
func h32PowerCut(t *testing.T, wal []byte, from uint64) bool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db-wal")
	if err := os.WriteFile(path, wal, 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := engine.ScanLog(path, from)
	return err == nil && sc.Cut != nil
}

// --- the digest: what a store holds, opened ----------------------------

// h32Digest writes one line per checkpoint (thread, namespace, id, time,
// parent, metadata, every channel's value decoded) and one per pending
// write, sorted: what the store reads as, whatever the bytes (sealed
// records re-sealed elsewhere read the same).
func h32Digest(path string, keys []string) (string, error) {
	opts := ckpt.Options{ReadOnly: true, LockTimeout: 10 * time.Second}
	if len(keys) > 0 {
		opts.Encryption = &ckpt.Encryption{}
		for _, p := range keys {
			k, err := readKeyFile(p)
			if err != nil {
				return "", err
			}
			opts.Encryption.Keys = append(opts.Encryption.Keys, k)
		}
	}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return "", err
	}
	defer s.Close()
	ctx := context.Background()
	var threads []string
	for ti, err := range s.Threads(ctx) {
		if err != nil {
			return "", err
		}
		threads = append(threads, ti.ThreadID)
	}
	var lines []string
	j := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("<%v>", err)
		}
		return string(b)
	}
	for _, th := range threads {
		for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: th}) {
			if err != nil {
				return "", err
			}
			c := tp.Config
			at := fmt.Sprintf("%s\t%s\t%s", c.ThreadID, c.CheckpointNS, c.CheckpointID)
			parent := ""
			if tp.ParentConfig != nil {
				parent = tp.ParentConfig.CheckpointID
			}
			values := map[string]any{}
			for ch := range tp.Checkpoint.ChannelValues {
				var v any
				if err := tp.Decode(ch, &v); err != nil {
					return "", fmt.Errorf("%s: %w", at, err)
				}
				values[ch] = v
			}
			lines = append(lines, fmt.Sprintf("cp\t%s\t%s\t%s\t%s\t%s\t%s\t%s", at, tp.Checkpoint.TS.UTC().Format(time.RFC3339Nano), parent,
				j(tp.Metadata), j(tp.Checkpoint.ChannelVersions), j(tp.Checkpoint.VersionsSeen), j(values)))
			for _, w := range tp.PendingWrites {
				v, err := w.Value.Value()
				if err != nil {
					return "", fmt.Errorf("%s: write %s/%d: %w", at, w.TaskID, w.Idx, err)
				}
				lines = append(lines, fmt.Sprintf("w\t%s\t%s\t%s\t%d\t%s\t%s", at, w.TaskID, w.TaskPath, w.Idx, w.Channel, j(v)))
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

// h32DigestChild prints the digest of the store at path (the child side
// of h32DigestOf): exit 0 and the digest, or exit 1 and the error.
func h32DigestChild(path string) int {
	var keys []string
	if v := os.Getenv(h32KeysEnv); v != "" {
		keys = strings.Split(v, ",")
	}
	d, err := h32Digest(path, keys)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ckpt.ErrCorrupt) {
			return 3
		}
		return 1
	}
	fmt.Print(d)
	return 0
}

// h32DigestOf reads the digest of a store a command changed in a child
// process under a watchdog (a damaged file may still hold what makes a
// read hang or fault). ok is false when the read failed (err says how).
func h32DigestOf(t *testing.T, path string, keys []string) (d string, err error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), h32DigestEnv+"="+path, h32KeysEnv+"="+strings.Join(keys, ","))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return "", errors.New("the digest read hangs (killed after 2 minutes)")
	}
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// baseDigest is the digest of an intact copy after the command args ran
// on it (no args: as it is), read with keys (cached).
func (f *h32Fix) baseDigest(t *testing.T, keys []string, args ...string) string {
	t.Helper()
	key := strings.Join(append(slices.Clone(args), keys...), "\x00")
	if d, ok := f.digests[key]; ok {
		return d
	}
	dir := f.copyTo(t, f.files)
	if len(args) > 0 {
		if r := h31Exec(t, dir, args...); r.code != 0 {
			t.Fatalf("%s: on the intact file:\n%s", f.name, r)
		}
	}
	d, err := h32Digest(filepath.Join(dir, "f.db"), keys)
	if err != nil {
		t.Fatalf("%s: digest of the intact file after %v: %v", f.name, args, err)
	}
	f.digests[key] = d
	return d
}

// backupBase is the export of the intact file's backup (cached).
func (f *h32Fix) backupBase(t *testing.T, args []string) result {
	t.Helper()
	key := "h32-backup\x00" + strings.Join(args, "\x00")
	if r, ok := f.base[key]; ok {
		return r
	}
	dir := f.copyTo(t, f.files)
	if r := f.exec(t, dir, args...); r.code != 0 {
		t.Fatalf("%s: on the intact file:\n%s", f.name, r)
	}
	r := f.exec(t, dir, "export", "bk.db")
	if r.code != 0 {
		t.Fatalf("%s: export of the intact file's backup:\n%s", f.name, r)
	}
	f.base[key] = r
	return r
}

// recoverRef is every line the intact file's recovery keeps when its log
// is cut at off (off < 0: the log left whole), with the intact file's
// own lines.
func (f *h32Fix) recoverRef(t *testing.T, off int64) h32Ref {
	t.Helper()
	if ref, ok := f.recoverReference[off]; ok {
		return ref
	}
	ref := h32Ref{exact: f.baseDigest(t, f.keyFiles()), lines: map[string]bool{}}
	for _, l := range strings.Split(ref.exact, "\n") {
		ref.lines[l] = true
	}
	if wal, ok := f.files["f.db-wal"]; ok && off >= 0 {
		files := map[string][]byte{"f.db": f.files["f.db"], "f.db-wal": wal[:min(int(off), len(wal))]}
		dir := f.copyTo(t, files)
		if _, err := ckpt.RecoverLog(filepath.Join(dir, "f.db"), ckpt.Options{}); err != nil {
			t.Fatalf("%s: recover of the intact file, its log cut at %d: %v", f.name, off, err)
		}
		d, err := h32Digest(filepath.Join(dir, "f.db"), f.keyFiles())
		if err != nil {
			t.Fatalf("%s: digest of the intact file recovered, its log cut at %d: %v", f.name, off, err)
		}
		ref.exact = d
		for _, l := range strings.Split(d, "\n") {
			ref.lines[l] = true
		}
	}
	f.recoverReference[off] = ref
	return ref
}

// --- the round -----------------------------------------------------------

func h32Rounds() (int, uint64) {
	// One round per fixture by default (and with -short): about 10 s,
	// 20 s with -race, on a 2-core machine; hunts pass more.
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT32_ROUNDS")); err == nil {
		rounds = v
	}
	seed := uint64(32)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_HUNT32_SEED"), 10, 64); err == nil {
		seed = v
	}
	return rounds, seed
}

func TestHunt32CLIOnDamagedFiles(t *testing.T) {
	t.Parallel()
	rounds, seed := h32Rounds()
	t.Logf("seed %d, %d rounds per fixture (CKPT_HUNT32_SEED, CKPT_HUNT32_ROUNDS)", seed, rounds)
	fixes := h32Fixtures(t)
	tally := h32Tally{}
	for fi, f := range fixes {
		for round := range rounds {
			rng := rand.New(rand.NewPCG(seed, uint64(fi)<<32|uint64(round)))
			where := fmt.Sprintf("seed %d %s round %d", seed, f.name, round)
			short := fmt.Sprintf("h32-%d-%s-%d", seed, f.name, round)
			if f.keyed {
				// hunt31's round on the encrypted store: its reads, writes
				// and verify, given the key (a damage of its own).
				h31Round(t, f.h31Fix, rand.New(rand.NewPCG(seed, 1<<62|uint64(fi)<<32|uint64(round))), where+" (hunt31's commands)", short+"-h31")
			}
			h32Round(t, f, rng, where, short, tally)
		}
	}
	t.Logf("exit 0 / failed: %s", tally)
}

// h32Tally counts what the rounds exercised (logged at the end).
type h32Tally map[string]int

func (c h32Tally) String() string {
	keys := slices.Sorted(maps.Keys(c))
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

func h32Round(t *testing.T, f *h32Fix, rng *rand.Rand, where, short string, tally h32Tally) {
	t.Helper()
	files, what := f.damage(t, rng)
	// In a quarter of the rounds on a store with a log, only the log is
	// damaged: recover must then keep exactly what is before the damage.
	logOnly := len(f.files["f.db-wal"]) > 64 && rng.IntN(4) == 0
	if logOnly {
		files = map[string][]byte{}
		for n, b := range f.files {
			files[n] = bytes.Clone(b)
		}
		what = "none"
	}
	if wal := files["f.db-wal"]; len(wal) > 64 && !strings.Contains(what, "log ") && (logOnly || rng.IntN(3) == 0) {
		// recover works on a damaged log: hunt31's damage reaches the log
		// in one draw of six, mostly in the zeros the log is grown by;
		// here in about half the rounds, and mostly in its records.
		end := len(wal)
		for end > 1 && wal[end-1] == 0 {
			end--
		}
		if rng.IntN(4) == 0 || end < 64 {
			end = len(wal)
		}
		at := rng.IntN(end)
		if last := f.lastRecord; at >= last[0] && at < last[1] {
			at = rng.IntN(last[0]) // not the last record: see h32LastRecord
		}
		old := wal[at]
		if flip := h31Byte(rng, wal, at); h32PowerCut(t, wal, f.logFrom) {
			wal[at] = old // not damage the store can tell: see h32PowerCut
		} else {
			what += "; log " + flip
		}
	}
	where += " (" + what + ")"
	dir := f.copyTo(t, files)
	metaHit := strings.Contains(what, "meta byte")
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	var differing []string
	// A write command that failed must not have changed what verify finds
	// (opening the file for writing commits, so its bytes may change);
	// verify is given the keys that open the records before and after.
	verifyBefore := map[string]result{}
	unchanged := func(args []string, r result, wdir string, keys ...string) {
		var flags []string
		for _, k := range keys {
			flags = append(flags, "--key-file", k)
		}
		vargs := append([]string{"verify", "f.db"}, flags...)
		before, ok := verifyBefore[strings.Join(keys, ",")]
		if !ok {
			before = h31Exec(t, dir, vargs...)
			verifyBefore[strings.Join(keys, ",")] = before
		}
		if after := h31Exec(t, wdir, vargs...); h31Pageless(after.stdout) != h31Pageless(before.stdout) {
			fail("%s fails and changes the file:\n%s\nverify before: %s\nverify after: %s", strings.Join(args, " "), r, before, after)
		}
	}
	// A write command that exited 0: the store then reads as want, or
	// the read fails and verify still sees the damage.
	readsAs := func(args []string, r result, wdir string, keys []string, want string) {
		got, err := h32DigestOf(t, filepath.Join(wdir, "f.db"), keys)
		switch {
		case err != nil:
			if v := f.exec(t, wdir, "verify", "f.db"); v.code == 0 {
				fail("%s exits 0, the store then does not read (%v), and verify after it finds nothing:\n%s\nverify: %s", strings.Join(args, " "), err, r, v)
			}
		case metaHit:
			// The previous commit's state (hunt31's metaHit); a write
			// refuses the file, which the other checks hold it to.
		case got != want:
			fail("%s exits 0 and the store then reads other than the intact file after it: %s\n%s", strings.Join(args, " "), h31Diff(got, want), r)
		}
	}
	a, b := f.cps[rng.IntN(len(f.cps))], f.cps[rng.IntN(len(f.cps))]

	// cp: the thread copied to a new one, or over another (--replace
	// deletes that one's history first).
	{
		args := []string{"cp", "f.db", a.thread, "h32-copy"}
		if b.thread != a.thread && rng.IntN(2) == 0 {
			args = []string{"cp", "f.db", a.thread, b.thread, "--replace"}
		}
		wdir := f.copyTo(t, files)
		r := f.exec(t, wdir, args...)
		if p := h31Clean(r, false); p != "" {
			fail("%s: %s:\n%s", strings.Join(args, " "), p, r)
		}
		if r.code != 0 {
			tally[args[0]+" failed"]++
			differing = append(differing, "cp fails")
			unchanged(args, r, wdir, f.keyFiles()...)
		} else {
			tally["cp ok"]++
			readsAs(args, r, wdir, f.keyFiles(), f.baseDigest(t, f.keyFiles(), append(args, f.flags...)...))
		}
	}

	// rekey: sealed under the new key (the old one given to open the old
	// records of an encrypted store); it then reads with the new key alone.
	{
		args := []string{"rekey", "f.db", "--key-file", f.newKey}
		if f.keyed {
			args = append(args, "--key-file", f.oldKey)
		}
		wdir := f.copyTo(t, files)
		r := h31Exec(t, wdir, args...)
		if p := h31Clean(r, false); p != "" {
			fail("%s: %s:\n%s", strings.Join(args, " "), p, r)
		}
		if r.code != 0 {
			tally[args[0]+" failed"]++
			differing = append(differing, "rekey fails")
			// rekey works in small transactions: a failed one may have
			// re-sealed some records (each opens with one of the keys).
			unchanged(args, r, wdir, f.newKey, f.oldKey)
		} else {
			tally["rekey ok"]++
			readsAs(args, r, wdir, []string{f.newKey}, f.baseDigest(t, []string{f.newKey}, args...))
		}
	}

	// backup to a new path: refused (and no copy left), or a copy that
	// holds what the intact file's backup holds and verifies clean.
	{
		args := []string{"backup", "f.db", "bk.db"}
		wdir := f.copyTo(t, files)
		r := f.exec(t, wdir, args...)
		if p := h31Clean(r, false); p != "" {
			fail("%s: %s:\n%s", strings.Join(args, " "), p, r)
		}
		left, _ := filepath.Glob(filepath.Join(wdir, "bk.db*"))
		if r.code != 0 {
			tally[args[0]+" failed"]++
			differing = append(differing, "backup fails")
			if len(left) > 0 && !strings.Contains(r.stderr, "problem") {
				fail("backup fails and leaves %v:\n%s", left, r)
			}
		} else {
			tally["backup ok"]++
			want := f.backupBase(t, args)
			got := f.exec(t, wdir, "export", "bk.db")
			if v := f.exec(t, wdir, "verify", "bk.db"); v.code != 0 {
				fail("backup exits 0 and verify of its copy fails:\n%s\nverify: %s", r, v)
			}
			switch {
			case got.code != 0:
				fail("backup exits 0 and the export of its copy fails:\n%s\nexport: %s", r, got)
			case got.stdout != want.stdout:
				fail("backup exits 0 and its copy holds other than the intact file's backup (export: %s)\n%s", h31Diff(got.stdout, want.stdout), r)
			}
		}
	}

	// recover: what it keeps is true.
	{
		args := []string{"recover", "f.db", "--json"}
		wdir := f.copyTo(t, files)
		r := f.exec(t, wdir, args...)
		if p := h31Clean(r, false); p != "" {
			fail("%s: %s:\n%s", strings.Join(args, " "), p, r)
		}
		if r.code != 0 {
			tally[args[0]+" failed"]++
			differing = append(differing, "recover fails")
			unchanged(args, r, wdir, f.keyFiles()...)
		} else {
			var st struct {
				Damaged bool  `json:"damaged"`
				Offset  int64 `json:"offset"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				fail("recover --json prints no JSON (%v):\n%s", err, r)
			}
			off := int64(-1)
			if st.Damaged {
				off = st.Offset
				tally["recover ok, log damaged"]++
				if logOnly {
					tally["recover ok, log alone damaged"]++
				}
			} else {
				tally["recover ok"]++
			}
			got, err := h32DigestOf(t, filepath.Join(wdir, "f.db"), f.keyFiles())
			if err != nil {
				if v := f.exec(t, wdir, "verify", "f.db"); v.code == 0 {
					fail("recover exits 0, the store then does not read (%v), and verify after it finds nothing:\n%s\nverify: %s", err, r, v)
				}
			} else {
				ref := f.recoverRef(t, off)
				var untrue []string
				for _, l := range strings.Split(got, "\n") {
					if !ref.lines[l] {
						untrue = append(untrue, l)
					}
				}
				switch {
				case logOnly && got != ref.exact:
					fail("recover exits 0 on a file whose log alone is damaged, and the store then reads other than the intact file recovered with its log cut at %d: %s\n%s", off, h31Diff(got, ref.exact), r)
				case len(untrue) > 0:
					fail("recover exits 0 and the store then holds %d record(s) neither the intact file nor its recovery at offset %d holds, the first: %.400s\n%s", len(untrue), off, untrue[0], r)
				}
			}
		}
	}

	v := f.exec(t, dir, "verify", "f.db")
	if p := h31Clean(v, true); p != "" {
		fail("verify: %s:\n%s", p, v)
	}
	if len(differing) > 0 && v.code == 0 {
		fail("verify exits 0 on a damage that made commands fail or differ (%s):\n%s", strings.Join(differing, ", "), v)
	}
	if len(problems) > 0 {
		if keep := os.Getenv("CKPT_HUNT31_KEEP"); keep != "" {
			for n, bb := range files {
				_ = os.WriteFile(filepath.Join(keep, short+"."+n), bb, 0o600)
			}
		}
		t.Errorf("%s:\n%s", where, strings.Join(problems, "\n---\n"))
	}
}
