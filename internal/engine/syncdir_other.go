//go:build !windows

package engine

// dirSyncs: a directory's fsync makes the files created or renamed in it
// durable (SyncDir).
const dirSyncs = true
