package main

import (
	"path/filepath"
	"testing"
)

// docs/backup.md: "If a program holds SRC, it says so: back up from
// inside that program with BackupFile." ckpt backup said what every
// command says of a held file, "stop that program or wait for it to close
// the store, then retry": stopping the agent is not the way to back it up.
func TestBackupOfAHeldStoreSaysToBackUpFromTheProgram(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	startHolder(t, db, false)
	failsWith(t, runIn(t, dir, "", "--lock-timeout", "100ms", "backup", db, filepath.Join(dir, "x.db")), 1, "back it up from inside that program with Store.BackupFile")
}
