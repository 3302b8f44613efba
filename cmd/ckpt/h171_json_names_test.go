package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestJSONNamesThatAreNotUTF8RoundTrip: thread ids, namespaces and
// channel names are bytes, and JSON strings are UTF-8: --json printed a
// name with a 0xff byte with U+FFFD in its place, a name no command
// could be given back (two such names even printed the same). A name
// that is not valid UTF-8 (and one that reads as a Go-quoted string,
// so that the form is never ambiguous) is printed Go-quoted, as the
// tables print it, and every command takes that form back: the thread
// ids of 'threads --json' go to show, log and rm unchanged.
func TestJSONNamesThatAreNotUTF8RoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "names.db")
	const (
		bad, ns, ch = "b\xff\xfex", "n\xfe", "c\xff"
		lit         = `"q\xff"` // a printable name that reads as a quoted one
	)
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, th := range []string{bad, "b\xfe\xffx", lit} {
		cfg := ckpt.Config{ThreadID: th, CheckpointNS: ns}
		if _, err := s.Put(ctx, cfg, ckpt.Checkpoint{ChannelValues: map[string]any{ch: 1}, ChannelVersions: map[string]string{ch: "1"}}, ckpt.Metadata{"step": 1}, map[string]string{ch: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	noFFFD := func(r result) {
		t.Helper()
		if strings.Contains(r.stdout, "\ufffd") {
			t.Fatalf("U+FFFD in the output:\n%s", r)
		}
	}
	type row struct {
		Thread     string   `json:"thread"`
		Namespaces []string `json:"namespaces"`
	}
	r := ok(t, dir, "threads", "--json", db)
	noFFFD(r)
	rows := decodeJSON[[]row](t, r)
	var ids []string
	for _, x := range rows {
		ids = append(ids, x.Thread)
		if !slices.Equal(x.Namespaces, []string{`"n\xfe"`}) {
			t.Errorf("thread %s: namespaces %q, want the quoted %q", x.Thread, x.Namespaces, `"n\xfe"`)
		}
	}
	want := []string{`"\"q\\xff\""`, `"b\xfe\xffx"`, `"b\xff\xfex"`}
	if !slices.Equal(ids, want) {
		t.Fatalf("threads --json: thread ids %q, want %q", ids, want)
	}
	for _, id := range ids {
		r := ok(t, dir, "show", "--json", "--ns", `"n\xfe"`, db, id)
		noFFFD(r)
		doc := decodeJSON[struct {
			Thread string         `json:"thread"`
			NS     string         `json:"ns"`
			State  map[string]any `json:"state"`
		}](t, r)
		if doc.Thread != id || doc.NS != `"n\xfe"` {
			t.Errorf("show %s: thread %q ns %q, want %q and %q", id, doc.Thread, doc.NS, id, `"n\xfe"`)
		}
		if _, has := doc.State[`"c\xff"`]; !has || len(doc.State) != 1 {
			t.Errorf("show %s: state %v, want one channel %s", id, doc.State, `"c\xff"`)
		}
		r = ok(t, dir, "show", "--ns", `"n\xfe"`, "--channel", `"c\xff"`, db, id)
		if strings.TrimSpace(r.stdout) != "1" {
			t.Errorf("show --channel of %s: %q, want 1", id, r.stdout)
		}
		r = ok(t, dir, "log", "--json", db, id)
		noFFFD(r)
		if entries := decodeJSON[[]logEntry](t, r); len(entries) != 1 || entries[0].NS != `"n\xfe"` || !slices.Equal(entries[0].Changed, []string{`"c\xff"`}) {
			t.Errorf("log %s: %+v, want one entry in ns %s changing %s", id, entries, `"n\xfe"`, `"c\xff"`)
		}
	}
	ok(t, dir, "rm", "--yes", db, ids[2])
	rows = decodeJSON[[]row](t, ok(t, dir, "threads", "--json", db))
	if len(rows) != 2 || rows[0].Thread != ids[0] || rows[1].Thread != ids[1] {
		t.Fatalf("after rm %s: threads %+v, want %s and %s", ids[2], rows, ids[0], ids[1])
	}
	// A quoted form is only ever a name's: the printable name itself,
	// unquoted, names no thread.
	failsWith(t, runIn(t, dir, "", "log", db, lit), 1, "no thread")
}
