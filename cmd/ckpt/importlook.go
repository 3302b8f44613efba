package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// importPeek is how much of a dump that cannot be read twice (a pipe) the
// import looks at for its threads before FILE is opened for writing.
const importPeek = 1 << 20

// dumpThreadsAhead returns the threads the dump *in names, read ahead of
// the import: the whole dump when it is a regular file (read, then put
// back where it was), else those named in its first importPeek bytes, *in
// then being a reader that gives them again. Reading stops at the first
// line it cannot parse: the import names it.
func dumpThreadsAhead(in *io.Reader) ([]string, error) {
	if f, ok := (*in).(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				threads := dumpThreads(bufio.NewReaderSize(f, 64<<10))
				if _, err := f.Seek(off, io.SeekStart); err != nil {
					// Not put back, the import would read from the
					// wrong place.
					return nil, fmt.Errorf("read the dump again: %w", err)
				}
				return threads, nil
			}
		}
	}
	br := bufio.NewReaderSize(*in, importPeek)
	*in = br
	b, err := br.Peek(importPeek)
	if err == nil || err == bufio.ErrBufferFull {
		// Whole lines only: a record cut at the end of the peek is
		// another's thread only by chance.
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	return dumpThreads(bytes.NewReader(b)), nil
}

// dumpThreads lists, each once and in order, the threads of the records
// in r, a dump's lines (its header and end line name none).
func dumpThreads(r io.Reader) []string {
	var threads []string
	seen := map[string]bool{}
	dec := json.NewDecoder(r)
	for {
		var rec struct {
			Kind   string          `json:"kind"`
			Thread json.RawMessage `json:"thread"`
		}
		if dec.Decode(&rec) != nil || rec.Kind == "end" {
			return threads
		}
		thread, ok := dumpName(rec.Thread)
		if !ok {
			continue // the header; a record without one is the import's to refuse
		}
		if !seen[thread] {
			seen[thread] = true
			threads = append(threads, thread)
		}
	}
}

// dumpName decodes a name as export writes it: a JSON string, or
// {"b64": ...} when it is not UTF-8.
func dumpName(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '{' {
		var v struct {
			B64 []byte `json:"b64"`
		}
		err := json.Unmarshal(raw, &v)
		return string(v.B64), err == nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// importLooks refuses, read-only, an import into file of a dump naming a
// thread file already has: the import itself finds it only once it has
// opened file for writing, which writes to it (bbolt's meta pages, the
// log's binding), and a refused import must leave it byte-identical. The
// import checks again in its transactions (another process may add the
// thread meanwhile).
func (a *app) importLooks(ctx context.Context, file string, threads []string) (err error) {
	if len(threads) == 0 || fileSize(file) == 0 {
		return nil
	}
	s, err := a.openRead(file)
	if err != nil {
		return err
	}
	defer a.closeStore(s, &err)
	for _, t := range threads {
		if _, err := s.Thread(ctx, t); err == nil {
			// Store.Import's words without its sentinel's (existsWords),
			// and what was left.
			return textError{fmt.Sprintf("thread %q is already in the store (delete it first or import into another file); nothing imported, %s left as it was", t, file), ckpt.ErrExists}
		}
		// Any other error (not found; a name the store refuses; a
		// damaged record) is the import's to meet and report.
		if ctx.Err() != nil {
			return stopped(ctx, ctx.Err(), "nothing imported, "+file+" left as it was")
		}
	}
	return nil
}

// existsWords is err, Store.Import's refusal of a thread the file has
// (ErrExists: a dump naming it past what importLooks reads ahead), without
// the sentinel's "already exists: " before its own words, which say it;
// errors.Is still finds ErrExists.
func existsWords(err error) error {
	words := strings.TrimPrefix(ckpt.ErrExists.Error(), "ckpt: ") + ": "
	if !errors.Is(err, ckpt.ErrExists) || !strings.Contains(err.Error(), words) {
		return err
	}
	return textError{strings.Replace(err.Error(), words, "", 1), err}
}
