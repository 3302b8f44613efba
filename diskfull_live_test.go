package ckpt

// A full disk at the commits that set or clear the file's live-log mark
// (engine.writeLive: a streamed Backup clears it for the copy and sets it
// again after; a clean Close clears it once bbolt holds the log): such a
// commit that bbolt rolled back for want of room fails that call alone,
// with ErrDiskFull, as the applier's and a NoWAL commit do, instead of the
// store. And ImportFile into an existing store whose Close finds no room
// to apply the log: the import is in the fsync'd log, so it stands and
// ImportFile says so (nil), not an error the next Open contradicts.

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

func TestStreamedBackupOnAFullDiskFailsAlone(t *testing.T) {
	t.Parallel()
	for _, seam := range boltFullSeams {
		t.Run(seam.name, func(t *testing.T) {
			ctx := context.Background()
			s, path, full, ids := openOnSeam(t, seam, Options{})
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			// Nothing left to apply: the backup's only commit is the one that
			// clears the live mark for the copy.
			full.Store(true)
			wantDiskFull(t, seam, "Backup on a full disk", s.Backup(ctx, io.Discard))
			ids = append(ids, saveN(t, s, "t", 3, 2)...) // the log has room
			full.Store(false)
			var buf bytes.Buffer
			if err := s.Backup(ctx, &buf); err != nil {
				t.Fatalf("Backup once there is room: %v", err)
			}
			ids = append(ids, saveN(t, s, "t", 5, 2)...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkExactly(t, path, Options{}, ids)
		})
	}
}

func TestCloseOnAFullDiskAtTheLiveMark(t *testing.T) {
	t.Parallel()
	for _, seam := range boltFullSeams {
		t.Run(seam.name, func(t *testing.T) {
			ctx := context.Background()
			s, path, full, ids := openOnSeam(t, seam, Options{})
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			// bbolt holds every write: Close's only commit clears the live mark.
			full.Store(true)
			err := s.Close()
			wantDiskFull(t, seam, "Close on a full disk", err)
			if _, serr := os.Stat(path + walSuffix); serr != nil {
				t.Fatalf("Close that could not clear the mark removed the log: %v", serr)
			}
			full.Store(false)
			checkExactly(t, path, Options{}, ids)
		})
	}
}

func TestImportFileIntoAStoreWhoseCloseFindsNoRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dump := importDump(t, dir)
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// bbolt takes nothing; the log has room: the import is logged, and
	// Close cannot apply it (it keeps the log, fsync'd).
	var full atomic.Bool
	full.Store(true)
	o := Options{tuning: &tuning{hooks: engine.Hooks{CommitBolt: noSpaceCommit(&full, path)}}}
	_, ierr := ImportFile(ctx, path, bytes.NewReader(dump.Bytes()), o, ImportOptions{})
	full.Store(false)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", ids)
	n := 0
	for _, err := range s.List(ctx, ListOptions{ThreadID: "imp"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	switch {
	case ierr != nil && n != 0:
		t.Fatalf("ImportFile = %v, and the reopened store holds %d checkpoints of the import", ierr, n)
	case ierr == nil && n != 3:
		t.Fatalf("ImportFile = nil, and the reopened store holds %d checkpoints of the import, want 3", n)
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify: %+v, %v", rep, err)
	}
}

// TestImportFileIntoANewPathWhoseCloseFindsNoRoom: the new file is built
// at path.import and linked into place once closed; when its Close finds
// no room to apply the log, the import fails, no file is left, and the
// error says so: not the Close's own words, that the log is kept and the
// next Open applies it (ImportFile removes both).
func TestImportFileIntoANewPathWhoseCloseFindsNoRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dump := importDump(t, dir)
	path := filepath.Join(dir, "new.db")
	for _, seam := range boltFullSeams {
		var full atomic.Bool
		o := Options{tuning: &tuning{hooks: engine.Hooks{CommitBolt: seam.commit(&full, importTempPath(path))}}}
		// The disk fills once the import is under way: its writes go to
		// the log, which has room; bbolt has none.
		_, err := ImportFile(ctx, path, bytes.NewReader(dump.Bytes()), o, ImportOptions{Progress: func(int64) { full.Store(true) }})
		wantDiskFull(t, seam, "ImportFile into a new path", err)
		if strings.Contains(err.Error(), "next Open applies it") {
			t.Errorf("ImportFile (%s) = %v: it removed the new file and its log", seam.name, err)
		}
		ents, rerr := os.ReadDir(dir)
		if rerr != nil || len(ents) != 1 || ents[0].Name() != "src.db" {
			t.Fatalf("ImportFile (%s) failed and left %v (%v)", seam.name, ents, rerr)
		}
	}
}

// importDump is the dump of a store src.db in dir with 3 checkpoints of
// thread "imp".
func importDump(t *testing.T, dir string) *bytes.Buffer {
	t.Helper()
	s, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "imp", 0, 3)
	var dump bytes.Buffer
	if _, err := s.Export(context.Background(), &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return &dump
}
