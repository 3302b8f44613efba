package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// jsonKeys decodes each object of a JSON array (or the one object) and
// returns its keys with their raw values.
func jsonObjects(t *testing.T, r result) []map[string]json.RawMessage {
	t.Helper()
	s := strings.TrimSpace(r.stdout)
	if strings.HasPrefix(s, "{") {
		return []map[string]json.RawMessage{decodeJSON[map[string]json.RawMessage](t, r)}
	}
	return decodeJSON[[]map[string]json.RawMessage](t, r)
}

// `ckpt log --json` gave null for an absent step, source, node and route
// but left out an absent parent, reason and run_id; `ckpt show --json`
// gave "parent": null for a first checkpoint. One convention now, Go's:
// a value the checkpoint lacks is left out. A value that means something
// when zero stays: step 0, the root namespace "", no changed channels,
// no pending writes.
func TestJSONLeavesOutAbsentValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	ctx := context.Background()
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Save(ctx, "bare", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "zero", map[string]any{"a": 1}, ckpt.Metadata{"step": 0, "source": "input"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"log", db, "bare", "--json"},
		{"log", db, "zero", "--json"},
		{"show", db, "bare", first, "--json"},
		{"threads", db, "--json"},
	} {
		for _, obj := range jsonObjects(t, ok(t, dir, args...)) {
			for k, v := range obj {
				if string(v) == "null" {
					t.Errorf("%s: %q is null; want it left out when absent", strings.Join(args, " "), k)
				}
			}
		}
	}
	zero := jsonObjects(t, ok(t, dir, "log", db, "zero", "--json"))
	if len(zero) != 1 || string(zero[0]["step"]) != "0" || string(zero[0]["ns"]) != `""` || string(zero[0]["pending_writes"]) != "0" {
		t.Errorf("log --json of a checkpoint at step 0: %v; want step 0, ns \"\" and pending_writes 0 kept", zero)
	}
}

// `ckpt version --json` gave the version, the format and Go's version but
// not the OS and architecture the text shows (as `go version` does).
func TestVersionJSONHasOSAndArch(t *testing.T) {
	t.Parallel()
	v := decodeJSON[map[string]any](t, ok(t, t.TempDir(), "version", "--json"))
	if v["goos"] != runtime.GOOS || v["goarch"] != runtime.GOARCH {
		t.Errorf("version --json = %v; want goos %q and goarch %q", v, runtime.GOOS, runtime.GOARCH)
	}
	if v["version"] == nil || v["format"] == nil || v["go"] == nil {
		t.Errorf("version --json = %v; want version, format and go kept", v)
	}
}

// A count flag given a value that is not a number said strconv's words
// ("strconv.ParseInt: parsing \"abc\": invalid syntax"): now it says the
// flag, the value and what the flag takes, with exit status 2 as for
// every malformed command line.
func TestBadCountFlagSaysWhatItTakes(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log", db, "demo", "--limit", "abc"}, `invalid argument "abc" for "--limit" flag: want a whole number, 0 (no limit) or more`},
		{[]string{"log", db, "demo", "--limit", "99999999999999999999"}, `invalid argument "99999999999999999999" for "--limit" flag: want a whole number, 0 (no limit) or more`},
		{[]string{"log", db, "demo", "--limit", "-1"}, "--limit -1: must be 0 (no limit) or more"},
		{[]string{"threads", db, "--newest", "x"}, `invalid argument "x" for "--newest" flag: want a whole number, 0 (every thread) or more`},
		{[]string{"gc", db, "--keep-last", "x"}, `invalid argument "x" for "--keep-last" flag: want a whole number, 1 or more`},
		{[]string{"demo", "--crash-after", "x"}, `invalid argument "x" for "--crash-after" flag: want a whole number, 1 to 8`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, 2, c.want)
		if strings.Contains(r.stderr, "strconv") {
			t.Errorf("%s: %s", strings.Join(c.args, " "), r.stderr)
		}
	}
}
