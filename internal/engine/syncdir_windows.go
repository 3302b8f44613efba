package engine

// dirSyncs is false on Windows: a directory opened there (os.Open) cannot
// be flushed (FlushFileBuffers fails with ERROR_ACCESS_DENIED), so every
// SyncDir would fail, and with it every Open that creates a log. NTFS
// journals the creation and renaming of files itself; RocksDB and Pebble
// skip the directory's sync there too (Pebble's vfs windowsDir.Sync).
const dirSyncs = false
