package ckpt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// backupState is the deterministic state of step step of thread thread, so
// a checkpoint read back from a copy can be checked against what was saved.
func backupState(thread, step int) map[string]any {
	msgs := make([]string, step%6+1)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("thread %d step %d message %d %s", thread, step, i, strings.Repeat("x", 64))
	}
	return map[string]any{"messages": msgs, "step": step, "thread": thread}
}

func backupThread(thread int) string { return fmt.Sprintf("b-%02d", thread) }

// backupAck is one acknowledged Save.
type backupAck struct {
	thread, step int
	id           string
}

// checkBackupSnapshot checks that a loaded checkpoint is whole and exactly
// the state its thread and step say, and returns them.
func checkBackupSnapshot(t *testing.T, snap *Snapshot) (thread, step int) {
	t.Helper()
	var msgs []string
	if err := snap.Decode("thread", &thread); err != nil {
		t.Fatalf("checkpoint %s: thread: %v", snap.CheckpointID, err)
	}
	if err := snap.Decode("step", &step); err != nil {
		t.Fatalf("checkpoint %s: step: %v", snap.CheckpointID, err)
	}
	if err := snap.Decode("messages", &msgs); err != nil {
		t.Fatalf("checkpoint %s: messages: %v", snap.CheckpointID, err)
	}
	if snap.ThreadID != backupThread(thread) || !reflect.DeepEqual(msgs, backupState(thread, step)["messages"]) {
		t.Fatalf("checkpoint %s (%s step %d) has a wrong state", snap.CheckpointID, snap.ThreadID, step)
	}
	if got, _ := snap.Metadata["step"].(int64); got != int64(step) {
		t.Fatalf("checkpoint %s: metadata %v, want step %d", snap.CheckpointID, snap.Metadata, step)
	}
	return thread, step
}

// checkBackupCopy opens the copy at path read-only and checks that it
// needs no log beside it, holds every checkpoint of acked with its exact
// state, holds nothing partial (every checkpoint loads whole, each thread's
// steps are gapless from 0) and passes Verify.
func checkBackupCopy(t *testing.T, path string, acked []backupAck) {
	t.Helper()
	if _, err := os.Stat(path + walSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a log lies beside the copy (%v): the copy is not self-contained", err)
	}
	c, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer c.Close()
	for _, a := range acked {
		snap, err := c.Load(context.Background(), backupThread(a.thread), a.id)
		if err != nil {
			t.Fatalf("checkpoint %s (%s step %d), acknowledged before the backup, is not in the copy: %v", a.id, backupThread(a.thread), a.step, err)
		}
		if _, step := checkBackupSnapshot(t, snap); step != a.step {
			t.Fatalf("checkpoint %s has step %d in the copy, acknowledged as %d", a.id, step, a.step)
		}
	}
	steps := map[string][]int{}
	for tp, err := range c.List(context.Background(), ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		snap, err := c.Load(context.Background(), tp.Config.ThreadID, tp.Config.CheckpointID)
		if err != nil {
			t.Fatal(err)
		}
		_, step := checkBackupSnapshot(t, snap)
		steps[tp.Config.ThreadID] = append(steps[tp.Config.ThreadID], step)
	}
	for th, st := range steps {
		for i, step := range st { // newest first
			if step != len(st)-1-i {
				t.Fatalf("thread %s has steps %v in the copy", th, st)
			}
		}
	}
	rep, err := c.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("the copy does not pass Verify: %v %+v", err, rep)
	}
}

// backupWriters runs n writers (with durability dur), one thread each, until stop is
// closed, and records every acknowledged Save.
type backupWriters struct {
	mu    sync.Mutex
	acked []backupAck
	err   error
	stop  chan struct{}
	wg    sync.WaitGroup
	n     atomic.Int64
}

func startBackupWriters(s *Store, n int, dur Durability) *backupWriters {
	bw := &backupWriters{stop: make(chan struct{})}
	for th := range n {
		bw.wg.Add(1)
		go func() {
			defer bw.wg.Done()
			for step := 0; ; step++ {
				select {
				case <-bw.stop:
					return
				default:
				}
				ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: dur})
				id, err := s.Save(ctx, backupThread(th), backupState(th, step), Metadata{"step": step})
				bw.mu.Lock()
				if err != nil {
					bw.err = errors.Join(bw.err, err)
					bw.mu.Unlock()
					return
				}
				bw.acked = append(bw.acked, backupAck{th, step, id})
				bw.mu.Unlock()
				bw.n.Add(1)
			}
		}()
	}
	return bw
}

func (bw *backupWriters) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // failure detector only
	for bw.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("writers acknowledged %d saves, want %d", bw.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (bw *backupWriters) snapshot() []backupAck {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	return slices.Clone(bw.acked)
}

func (bw *backupWriters) finish(t *testing.T) []backupAck {
	t.Helper()
	close(bw.stop)
	bw.wg.Wait()
	if bw.err != nil {
		t.Fatalf("a writer failed: %v", bw.err)
	}
	return bw.acked
}

// backupTemps lists the temporary files of backups to path.
func backupTemps(t *testing.T, path string) []string {
	t.Helper()
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if isBackupTemp(base, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestBackupUnder16SyncWritersHoldsEveryAcknowledgedCheckpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		dur  Durability
	}{
		{"log", Options{}, Sync},
		{"nowal", Options{NoWAL: true}, Sync},
		// Async: acknowledged once queued; the backup queues behind them.
		{"async", Options{}, Async},
	} {
		t.Run(tc.name, func(t *testing.T) { testBackupUnderWriters(t, tc.opts, tc.dur) })
	}
}

func testBackupUnderWriters(t *testing.T, opts Options, dur Durability) {
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	bw := startBackupWriters(s, 16, dur)
	bw.waitFor(t, 16*20)
	before := bw.snapshot() // acknowledged before Backup is called
	var written, total int64
	err = s.BackupFile(context.Background(), dst, BackupProgress(func(w, tot int64) { written, total = w, tot }))
	during := bw.snapshot()
	all := bw.finish(t)
	if err != nil {
		t.Fatalf("backup under 16 writers: %v", err)
	}
	t.Logf("%d saves acknowledged before the backup, %d by its end, %d in all", len(before), len(during), len(all))
	checkBackupCopy(t, dst, before)
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if written != total || total != fi.Size() {
		t.Fatalf("progress ended at %d of %d bytes; the copy has %d", written, total, fi.Size())
	}
	if tmp := backupTemps(t, dst); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// The source still holds everything, the copy did not disturb it.
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if _, err := s.Load(context.Background(), backupThread(a.thread), a.id); err != nil {
			t.Fatalf("source lost %s: %v", a.id, err)
		}
	}
}

// TestBackupDoesNotStopWriters holds a backup half-way (its progress
// callback waits on a channel) and requires Sync writes and reads to
// complete before it is released: writers are never held for the length
// of a backup. The copy holds the state when Backup was called, not the
// writes made while it ran.
func TestBackupDoesNotStopWriters(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before []backupAck
	for step := range 200 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, backupAck{0, step, id})
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.BackupFile(context.Background(), dst, BackupProgress(func(w, total int64) {
			once.Do(func() { close(reached); <-release })
		}))
	}()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("backup ended without reporting progress: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("backup reported no progress")
	}
	wrote := make(chan error, 1)
	go func() {
		for step := range 100 {
			ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: Sync})
			if _, err := s.Save(ctx, backupThread(1), backupState(1, step), Metadata{"step": step}); err != nil {
				wrote <- err
				return
			}
		}
		_, err := s.Load(context.Background(), backupThread(0), before[len(before)-1].id)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second): // failure detector only
		close(release)
		t.Fatal("Sync writes waited for a backup in progress")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkBackupCopy(t, dst, before)
	c, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Latest(context.Background(), backupThread(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the copy holds a write made after Backup was called (err %v)", err)
	}
}

// TestTwoBackupsAtOnceDoNotStopWriters holds one backup half-way while a
// second one starts: the second waits for the first, and Sync writes go on
// meanwhile (the second must not wait inside the commit loop).
func TestTwoBackupsAtOnceDoNotStopWriters(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before []backupAck
	for step := range 50 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, backupAck{0, step, id})
	}
	dir := t.TempDir()
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first, second := make(chan error, 1), make(chan error, 1)
	go func() {
		first <- s.BackupFile(context.Background(), filepath.Join(dir, "first.db"), BackupProgress(func(w, total int64) {
			once.Do(func() { close(reached); <-release })
		}))
	}()
	<-reached
	secondStarted := make(chan struct{})
	go func() {
		close(secondStarted)
		second <- s.BackupFile(context.Background(), filepath.Join(dir, "second.db"))
	}()
	<-secondStarted
	wrote := make(chan error, 1)
	go func() {
		for step := range 50 {
			ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: Sync})
			if _, err := s.Save(ctx, backupThread(1), backupState(1, step), Metadata{"step": step}); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second): // failure detector only
		close(release)
		t.Fatal("Sync writes waited while two backups ran")
	}
	// A third one, cancelled while it waits its turn, gives up at once and
	// leaves no file.
	ctx, cancel := context.WithCancel(context.Background())
	third := make(chan error, 1)
	go func() { third <- s.BackupFile(ctx, filepath.Join(dir, "third.db")) }()
	cancel()
	select {
	case err := <-third:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiting backup returned %v", err)
		}
	case <-time.After(60 * time.Second): // failure detector only
		close(release)
		t.Fatal("a cancelled backup went on waiting for the running one")
	}
	if _, err := os.Stat(filepath.Join(dir, "third.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled backup left a file (%v)", err)
	}
	close(release)
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	checkBackupCopy(t, filepath.Join(dir, "first.db"), before)
	checkBackupCopy(t, filepath.Join(dir, "second.db"), before)
	// The cancelled one gave its turn back.
	if err := s.BackupFile(context.Background(), filepath.Join(dir, "third.db")); err != nil {
		t.Fatal(err)
	}
	if tmp := backupTemps(t, filepath.Join(dir, "third.db")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

// heldBackupLog is TestBackupHeldPastTheLogBoundWritersResume's log bound:
// past the 8 writes of 1 MiB it waits for below it.
const heldBackupLog = 12 << 20

// TestBackupHeldPastTheLogBoundWritersResume holds a backup half-way while
// writers log more than the log's bound: past that bound the commit loop must
// apply the log, which waits for the copy; once the backup ends, every
// write completes and nothing is lost (no deadlock between the copy, the
// applier and the commit loop). The bound is heldBackupLog
// (engine.Hooks.MaxLog), not engine.MaxUnapplied (32 MiB): the commit loop
// takes the same branch past either (openGroup), and 40 MiB of values cost
// 16 CPU s under -race (10 of them in the kernel, the detector's shadow of
// each value), for what 20 MiB shows.
func TestBackupHeldPastTheLogBoundWritersResume(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{tuning: &tuning{hooks: engine.Hooks{MaxLog: heldBackupLog}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before []backupAck
	for step := range 20 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, backupAck{0, step, id})
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.BackupFile(context.Background(), dst, BackupProgress(func(w, total int64) {
			once.Do(func() { close(reached); <-release })
		}))
	}()
	<-reached
	const mb = 1 << 20
	n := heldBackupLog/mb + 8
	big := strings.Repeat("z", mb)
	var count atomic.Int64
	ids := make([]string, n)
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			id, err := s.Save(context.Background(), "big", map[string]any{"v": big + strconv.Itoa(i)}, Metadata{"i": i})
			if err != nil {
				wrote <- err
				return
			}
			ids[i] = id
			count.Add(1)
		}
		wrote <- nil
	}()
	deadline := time.After(60 * time.Second) // failure detector only
	for count.Load() < 8 {
		select {
		case err := <-wrote:
			t.Fatalf("writer ended early: %v", err)
		case <-deadline:
			close(release)
			t.Fatal("writes below the bound waited for the backup")
		case <-time.After(time.Millisecond):
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("writes did not resume after the backup ended")
	}
	for i, id := range ids {
		snap, err := s.Load(context.Background(), "big", id)
		var v string
		if err == nil {
			err = snap.Decode("v", &v)
		}
		if err != nil || v != big+strconv.Itoa(i) {
			t.Fatalf("save %d after the backup: %v", i, err)
		}
	}
	checkBackupCopy(t, dst, before)
}

// TestBackupCancelledLeavesNoFile cancels a backup half-way: no file
// appears at the destination, no temporary file is left, and an earlier
// copy at the destination stays as it was.
func TestBackupCancelledLeavesNoFile(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var acked []backupAck
	for step := range 100 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, backupAck{0, step, id})
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	cancelled := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		return s.BackupFile(ctx, dst, BackupProgress(func(w, total int64) {
			if w > total/2 {
				cancel()
			}
		}))
	}
	if err := cancelled(); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup returned %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled backup left a destination file (%v)", err)
	}
	if tmp := backupTemps(t, dst); len(tmp) != 0 {
		t.Fatalf("a cancelled backup left %v", tmp)
	}
	// Over an earlier copy: the earlier copy stays whole.
	if err := s.BackupFile(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), backupThread(0), backupState(0, 100), Metadata{"step": 100}); err != nil {
		t.Fatal(err)
	}
	if err := cancelled(); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup returned %v, want context.Canceled", err)
	}
	if now, err := os.ReadFile(dst); err != nil || !bytes.Equal(now, first) {
		t.Fatalf("a cancelled backup changed the earlier copy (%v)", err)
	}
	if tmp := backupTemps(t, dst); len(tmp) != 0 {
		t.Fatalf("a cancelled backup left %v", tmp)
	}
	checkBackupCopy(t, dst, acked)
	// The stream form stops too, with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup with a cancelled context returned %v", err)
	}
}

// TestBackupOfReadOnlyStoreIncludesTheLog backs up, read-only, a file a
// crashed writer left with groups only in its log: the copy holds them
// and needs no log, and is not far larger than the data (the replay into
// the copy grew it by bbolt's default step, 16 MiB for a few dozen KiB,
// before it took the store's: engine.GrowStep); the source's files are
// not changed.
func TestBackupOfReadOnlyStoreIncludesTheLog(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	var acked []backupAck
	for step := range 30 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, backupAck{0, step, id})
	}
	src := crashCopy(t, s)
	wal, err := os.ReadFile(src + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(src, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const most = 1 << 20
	dir := t.TempDir()
	if err := r.BackupFile(context.Background(), filepath.Join(dir, "file.db")); err != nil {
		t.Fatalf("read-only BackupFile: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "file.db")); err != nil {
		t.Fatal(err)
	} else if fi.Size() > most {
		t.Errorf("BackupFile of a store with a log wrote %d bytes, want at most %d", fi.Size(), most)
	}
	checkBackupCopy(t, filepath.Join(dir, "file.db"), acked)
	var buf bytes.Buffer
	if err := r.Backup(context.Background(), &buf); err != nil {
		t.Fatalf("read-only Backup: %v", err)
	}
	if buf.Len() > most {
		t.Errorf("Backup of a store with a log wrote %d bytes, want at most %d", buf.Len(), most)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream.db"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	checkBackupCopy(t, filepath.Join(dir, "stream.db"), acked)
	if now, err := os.ReadFile(src + walSuffix); err != nil || !bytes.Equal(now, wal) {
		t.Fatalf("a read-only backup changed the source's log (%v)", err)
	}
	if now, err := os.ReadFile(src); err != nil || !bytes.Equal(now, db) {
		t.Fatalf("a read-only backup changed the source file (%v)", err)
	}
}

// TestBackupRefusesToReplaceTheStoreOrALiveLog: the destination may not
// be the store's own file or log, nor a file with a log beside it (a store
// someone opened there: the copy would be read with that log), nor empty
// or a directory; the writer may not be nil.
func TestBackupRefusesToReplaceTheStoreOrALiveLog(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Save(context.Background(), backupThread(0), backupState(0, 0), Metadata{"step": 0})
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	if err := os.WriteFile(other+walSuffix, []byte("a log"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(context.Background(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Backup to a nil writer returned %v, want ErrInvalidConfig", err)
	}
	for _, dst := range []string{s.Path(), s.Path() + walSuffix, other, "", t.TempDir()} {
		if err := s.BackupFile(context.Background(), dst); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("backup to %s returned %v, want ErrInvalidConfig", filepath.Base(dst), err)
		}
	}
	if _, err := s.Load(context.Background(), backupThread(0), id); err != nil {
		t.Fatal(err)
	}
}

const (
	backupChildEnv = "CKPT_BACKUP_CHILD" // source file; the child runs only when set
	backupDstEnv   = "CKPT_BACKUP_DST"
)

// TestBackupKillChild is the child process of TestBackupKillLeavesNoPartialCopy:
// 4 Sync writers print every acknowledged save ("P thread step id"); once
// they have written for a while, a backup starts and, half-way, prints
// "MID" and waits there to be killed.
func TestBackupKillChild(t *testing.T) {
	t.Parallel()
	src := os.Getenv(backupChildEnv)
	if src == "" {
		t.Skip("the child process of TestBackupKillLeavesNoPartialCopy")
	}
	s, err := Open(src, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	emit := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(line + "\n")
		out.Flush()
	}
	var n atomic.Int64
	for th := range 4 {
		go func() {
			step := 0
			if snap, err := s.Latest(context.Background(), backupThread(th)); err == nil {
				_ = snap.Decode("step", &step)
				step++
			}
			for ; ; step++ {
				id, err := s.Save(context.Background(), backupThread(th), backupState(th, step), Metadata{"step": step})
				if err != nil {
					fmt.Fprintln(os.Stderr, "save:", err)
					os.Exit(3)
				}
				emit(fmt.Sprintf("P %d %d %s", th, step, id))
				n.Add(1)
			}
		}()
	}
	for n.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	var once sync.Once
	err = s.BackupFile(context.Background(), os.Getenv(backupDstEnv), BackupProgress(func(w, total int64) {
		if w > total/2 {
			once.Do(func() {
				emit("MID")
				select {} // writers go on; the parent kills the process here
			})
		}
	}))
	fmt.Fprintln(os.Stderr, "backup returned:", err)
	os.Exit(4)
}

// runBackupKillChild runs the child on src until its backup to dst is
// half-way, kills it with SIGKILL and returns the saves it acknowledged.
func runBackupKillChild(t *testing.T, src, dst string) []backupAck {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^TestBackupKillChild$")
	cmd.Env = childEnv(backupChildEnv+"="+src, backupDstEnv+"="+dst)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	mid := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "MID" {
				close(mid)
				continue
			}
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-mid:
	case <-readDone:
	case <-time.After(120 * time.Second): // failure detector only
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-readDone
	_ = cmd.Wait()
	select {
	case <-mid:
	default:
		t.Fatalf("the child never reached the middle of its backup: %s", stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %s", stderr.String())
	}
	var acked []backupAck
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "P" {
			t.Fatalf("child printed %q", l)
		}
		th, _ := strconv.Atoi(f[1])
		step, _ := strconv.Atoi(f[2])
		acked = append(acked, backupAck{th, step, f[3]})
	}
	return acked
}

// TestBackupKillLeavesNoPartialCopy kills a process half-way through a
// backup taken under writers, twice: the source keeps every acknowledged
// write and passes Verify; the destination is absent (first round) or the
// earlier whole copy (second round), never a partial one; the killed
// backup's temporary file is named as one and the next backup to the same
// destination removes it.
func TestBackupKillLeavesNoPartialCopy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	src := filepath.Join(t.TempDir(), "live.db")
	dst := filepath.Join(t.TempDir(), "copy.db")
	var prev []byte
	var all []backupAck
	for round := range 2 {
		acked := runBackupKillChild(t, src, dst)
		all = append(all, acked...)
		if len(acked) < 200 {
			t.Fatalf("round %d: the child acknowledged only %d saves", round, len(acked))
		}
		switch now, err := os.ReadFile(dst); {
		case round == 0 && !errors.Is(err, os.ErrNotExist):
			t.Fatalf("round %d: a killed backup left a destination file (%v)", round, err)
		case round > 0 && (err != nil || !bytes.Equal(now, prev)):
			t.Fatalf("round %d: a killed backup changed the earlier copy (%v)", round, err)
		}
		if tmp := backupTemps(t, dst); len(tmp) != 1 {
			t.Fatalf("round %d: want the killed backup's temporary file, found %v", round, tmp)
		}
		s, err := Open(src, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen the source: %v", round, err)
		}
		for _, a := range all {
			snap, err := s.Load(context.Background(), backupThread(a.thread), a.id)
			if err != nil {
				t.Fatalf("round %d: the source lost acknowledged %s: %v", round, a.id, err)
			}
			checkBackupSnapshot(t, snap)
		}
		if rep, err := s.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
			t.Fatalf("round %d: the source fails Verify: %v %+v", round, err, rep)
		}
		if err := s.BackupFile(context.Background(), dst); err != nil {
			t.Fatalf("round %d: backup after the kill: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if tmp := backupTemps(t, dst); len(tmp) != 0 {
			t.Fatalf("round %d: the next backup left %v", round, tmp)
		}
		checkBackupCopy(t, dst, all)
		var err2 error
		if prev, err2 = os.ReadFile(dst); err2 != nil {
			t.Fatal(err2)
		}
	}
}

// BenchmarkBackupWriterStall measures what a backup costs writers: a store
// of about 150 MB (CKPT_BACKUP_MB changes it), 16 Sync writers saving
// without pause, and Sync Save latency while no backup runs against while
// BackupFile copies the whole store to the same disk. Reported per backup:
// its time, the copy's size, and the writers' max and p99 latency in both
// windows. Run: go test -run '^$' -bench BackupWriterStall -benchtime 3x .
func BenchmarkBackupWriterStall(b *testing.B) {
	targetMB := int64(150)
	if v, err := strconv.Atoi(os.Getenv("CKPT_BACKUP_MB")); err == nil && v > 0 {
		targetMB = int64(v)
	}
	path := filepath.Join(b.TempDir(), "live.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillBackupStore(b, s, targetMB<<20)
	fi, _ := os.Stat(path)
	b.Logf("store: %.1f MB", float64(fi.Size())/(1<<20))

	var mu sync.Mutex
	var lat []time.Duration // latencies of the current window
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for th := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for step := 0; ; step++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if _, err := s.Save(context.Background(), fmt.Sprintf("w-%02d", th), backupState(th, step), Metadata{"step": step}); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	window := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		out := lat
		lat = nil
		slices.Sort(out)
		return out
	}
	pct := func(d []time.Duration, p float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	dst := filepath.Join(b.TempDir(), "copy.db")
	b.ResetTimer()
	for i := range b.N {
		window()
		time.Sleep(2 * time.Second) // the baseline window
		base := window()
		t0 := time.Now()
		var first, last time.Time // the first and last chunk written
		if err := s.BackupFile(context.Background(), dst, BackupProgress(func(w, total int64) {
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
		})); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		during := window()
		cfi, _ := os.Stat(dst)
		b.Logf("backup %d: %.2f s (snapshot taken after %.0f ms, copy %.0f ms, fsync+rename %.0f ms), %.1f MB; Sync Save without backup: %d saves, p99 %.1f ms, max %.1f ms; during backup: %d saves, p99 %.1f ms, max %.1f ms",
			i, took.Seconds(), ms(first.Sub(t0)), ms(last.Sub(first)), ms(time.Since(last)-(time.Since(t0)-took)), float64(cfi.Size())/(1<<20),
			len(base), pct(base, 0.99), pct(base, 1), len(during), pct(during, 0.99), pct(during, 1))
		b.ReportMetric(took.Seconds(), "backup-s")
		b.ReportMetric(pct(base, 1), "max-ms-without")
		b.ReportMetric(pct(during, 1), "max-ms-during")
		b.ReportMetric(pct(during, 0.99), "p99-ms-during")
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fillBackupStore saves W1-like steps (a message list that grows by one
// message a step, stored as append-deltas, and a scratch channel rewritten
// each step) with NoSync until the file holds size bytes.
func fillBackupStore(b *testing.B, s *Store, size int64) {
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: NoSync})
	text := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 64)
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for th := g * 250; th < (g+1)*250; th++ {
					thread := fmt.Sprintf("fill-%04d", th)
					var msgs []string
					for step := range 10 {
						msgs = append(msgs, fmt.Sprintf("%d %d %s", round, step, text[:1000]))
						state := map[string]any{"messages": msgs, "scratch": text[step : step+2000], "step": round*10 + step}
						if _, err := s.Save(ctx, thread, state, Metadata{"step": step}); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if err := s.ApplyLog(context.Background()); err != nil {
			b.Fatal(err)
		}
		if fi, err := os.Stat(s.Path()); err != nil || fi.Size() >= size {
			return
		}
	}
}

// TestBackupCheckRefusesTheCopy: a BackupCheck error leaves the earlier
// copy at the destination as it was and no temporary file; the check sees
// the whole copy (it opens as a store holding the checkpoint).
func TestBackupCheckRefusesTheCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := s.BackupFile(ctx, dst); err != nil {
		t.Fatal(err)
	}
	earlier, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 2}, nil); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	err = s.BackupFile(ctx, dst, BackupCheck(func(path string) error {
		c, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Load(ctx, "t", id); err != nil {
			return err
		}
		return refused
	}))
	if !errors.Is(err, refused) {
		t.Fatalf("BackupFile with a failing check returned %v", err)
	}
	if now, err := os.ReadFile(dst); err != nil || !bytes.Equal(now, earlier) {
		t.Fatalf("a refused copy changed the destination (%v)", err)
	}
	if tmp := backupTemps(t, dst); len(tmp) != 0 {
		t.Fatalf("a refused copy left %v", tmp)
	}
}
