package ckpt

import (
	"os"
	"testing"
)

// TestEmptiedLogIsRefused: a killed store's log emptied (cut to 0 bytes,
// or to less than its header: a tool, `> FILE-wal`, a copy that stopped at
// once) holds nothing a crash can leave there, since the file says a log
// is live only once its log's header is durable. It opened with the
// logged groups gone and no error, as a deleted log did; both are refused,
// and `ckpt recover` accepts the file as it is.
func TestEmptiedLogIsRefused(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 23} {
		path, _ := lostLogFile(t, "log deleted")
		if err := os.WriteFile(path+walSuffix, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		checkLogMissingRefused(t, path)
		st, err := RecoverLog(path, Options{})
		if err != nil || !st.LogMissing {
			t.Fatalf("log of %d bytes: RecoverLog = %+v, %v; want the file accepted (LogMissing)", n, st, err)
		}
		// The file no longer says a log is live: the same short log
		// beside it holds nothing, as before the mark.
		if err := os.WriteFile(path+walSuffix, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("log of %d bytes: Open after RecoverLog: %v", n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
