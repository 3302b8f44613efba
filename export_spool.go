package ckpt

import (
	"errors"
	"io"
	"os"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// spool holds one thread's dump between its read transaction and the
// export's writer: in memory up to limit bytes, past that in a temporary
// file (beside the store, or in the system's temporary directory when
// the store's is not writable), unlinked at once where the system allows
// it, so that a killed export leaves nothing behind. The read then runs at
// the disk's pace whatever the consumer's, and the consumer is written to
// with no transaction open: one that stops reading keeps no pages from
// reuse and does not hold Close up. Disk: one thread's dump at most.
// The file is the export's own, never the store's: a failure there for
// want of room is ErrDiskFull (engine.OwnFilesFull), the store going on.
type spool struct {
	dir   string
	limit int

	mem     []byte
	f       *os.File
	name    string // f's name while it could not be unlinked
	spilled bool   // this thread's bytes are in f (mem is empty)
}

// Write adds p to the thread's bytes.
func (sp *spool) Write(p []byte) (int, error) {
	if !sp.spilled {
		if len(sp.mem)+len(p) <= sp.limit {
			sp.mem = append(sp.mem, p...)
			return len(p), nil
		}
		if err := sp.spill(); err != nil {
			return 0, engine.OwnFilesFull(err)
		}
	}
	n, err := sp.f.Write(p)
	return n, engine.OwnFilesFull(err)
}

// spill moves the bytes held in memory to the file, opened the first time.
func (sp *spool) spill() error {
	if sp.f == nil {
		f, err := os.CreateTemp(sp.dir, ".ckpt-export-*")
		if err != nil {
			var terr error
			if f, terr = os.CreateTemp("", "ckpt-export-*"); terr != nil {
				return errors.Join(err, terr)
			}
		}
		sp.f = f
		if os.Remove(f.Name()) != nil {
			sp.name = f.Name() // an open file cannot be removed here: at close
		}
	}
	if _, err := sp.f.Write(sp.mem); err != nil {
		return err
	}
	sp.mem = sp.mem[:0]
	sp.spilled = true
	return nil
}

// writeTo writes the thread's bytes to w.
func (sp *spool) writeTo(w io.Writer) error {
	if !sp.spilled {
		_, err := w.Write(sp.mem)
		return err
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, sp.f)
	return err
}

// reset empties the spool for the next thread.
func (sp *spool) reset() error {
	sp.mem = sp.mem[:0]
	if !sp.spilled {
		return nil
	}
	sp.spilled = false
	if err := sp.f.Truncate(0); err != nil {
		return engine.OwnFilesFull(err)
	}
	_, err := sp.f.Seek(0, io.SeekStart)
	return err
}

// close gives the file back.
func (sp *spool) close() {
	if sp.f == nil {
		return
	}
	_ = sp.f.Close()
	if sp.name != "" {
		_ = os.Remove(sp.name)
	}
	sp.f = nil
}
