package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestBackupFileThroughASymlink: a backup destination that is a symbolic
// link (a "latest" link to the backup an operator restores from) gets the
// new copy in the file the link names, and stays a link. Before, the
// copy's rename replaced the link with a file of its own, and the file
// behind it kept the older backup: a restore from it lost everything
// saved since, with no error.
func TestBackupFileThroughASymlink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "agent.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "backups", "agent-backup.db")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupFile(ctx, target); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "latest.db")
	if err := os.Symlink(filepath.Join("backups", "agent-backup.db"), link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	second, err := s.Save(ctx, "t", map[string]any{"v": 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.BackupFile(ctx, link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the destination link is no longer a link after BackupFile (mode %v, %v)", fi.Mode(), err)
	}
	b, err := Open(target, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	snap, err := b.Latest(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if snap.CheckpointID != second {
		t.Fatalf("the file the link names holds checkpoint %s as the latest, want the new backup's %s (the first was %s)", snap.CheckpointID, second, first)
	}
}
