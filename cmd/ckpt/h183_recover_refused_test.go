package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/pagedamage"
)

// h183RefusedLog builds, in dir, f.db and its log as a writer killed with
// groups unapplied leaves them, where the file refuses one of the groups
// (ckpt's TestLogGroupTheFileRefusesIsRecoverable): three Saves of thread
// t applied and the file copied then; then Saves of u, t, u logged (groups
// 4-6), the log copied while the store is open. In the copy, the ids/
// bucket of thread t (inline: no page left unreached) loses its bucket
// flag, so bbolt refuses group 5, which writes into it. It returns the id
// of the Save of group 4, the one acknowledged before the refused group.
func h183RefusedLog(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live.db")
	s, err := ckpt.Open(live, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if _, err := s.Save(ctx, "t", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing writes the file until the next group is applied.
	p := filepath.Join(dir, "f.db")
	copyFile(t, live, p)
	kept, err := s.Save(ctx, "u", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"t", "u"} {
		if _, err := s.Save(ctx, th, map[string]any{"n": 2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, live+"-wal", p+"-wal")
	h183ClearBucketFlag(t, p, [][]byte{[]byte("threads"), []byte("t")}, []byte("ids"))
	return kept
}

// h183ClearBucketFlag clears the bucket flag of the leaf element named
// name in the bucket at parent of the closed bbolt file at path (ckpt's
// clearBucketFlag): bbolt then reads that bucket as a value.
func h183ClearBucketFlag(t *testing.T, path string, parent [][]byte, name []byte) {
	t.Helper()
	root, ps, data, err := pagedamage.BucketRoot(path, parent...)
	if err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatalf("bucket %q is inline", parent)
	}
	if hits := pagedamage.ClearBucketFlag(data, root, ps, name); hits != 1 {
		t.Fatalf("%d bucket elements named %q under %q", hits, name, parent)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A killed writer's log holding a group the file refuses (RecoverStats.
// Refused): `ckpt recover` keeps the group before it, drops groups 5-6,
// moves the log aside and says so, in text (the refusal in the command's
// words, without the library's nested "ckpt: " prefixes; what it kept and
// dropped; where the log went; and that the damage the file refused the
// group for is still in the file, with the command that lists it) and in
// --json, which had no "refused" field (nor "foreign" or "unverified"):
// a script could not tell this from a damaged log. It exits 0. A second
// recover then finds nothing to recover, verify no longer names the log
// (it lists the file's own damage, the bucket that lost its flag), and
// the store reads the Save acknowledged before the refused group.
func TestH183RecoverOfARefusedGroup(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			kept := h183RefusedLog(t, dir)
			if r := runIn(t, dir, "", "threads", "f.db"); r.code != 1 || !strings.Contains(r.stderr, "ckpt recover f.db") {
				t.Fatalf("threads of the refused log: want exit 1 naming 'ckpt recover f.db':\n%s", r)
			}
			args := []string{"recover", "f.db"}
			if asJSON {
				args = append(args, "--json")
			}
			r := runIn(t, dir, "", args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("recover: want exit 0, nothing on stderr:\n%s", r)
			}
			if asJSON {
				var got struct {
					Damaged    bool   `json:"damaged"`
					Refused    *bool  `json:"refused"`
					Foreign    *bool  `json:"foreign"`
					Unverified *bool  `json:"unverified"`
					Kept       int    `json:"kept_groups"`
					Dropped    uint64 `json:"dropped_groups"`
					First      uint64 `json:"dropped_first_group"`
					Last       uint64 `json:"dropped_last_group"`
					Offset     int64  `json:"offset"`
					MovedTo    string `json:"moved_to"`
					Reason     string `json:"reason"`
					LogWhole   bool   `json:"log_whole"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
					t.Fatalf("recover --json: %v\n%s", err, r)
				}
				if !got.Damaged || got.Refused == nil || !*got.Refused || got.Kept != 1 || got.Dropped != 2 || got.First != 5 || got.Last != 6 ||
					got.Offset != 0 || got.MovedTo == "" || !strings.Contains(got.Reason, "refuses group 5") || strings.Contains(got.Reason, "ckpt:") ||
					got.Foreign == nil || *got.Foreign || got.Unverified == nil || *got.Unverified {
					t.Errorf("recover --json = %+v (refused %v), want damaged, refused, 1 group kept, groups 5-6 dropped, the log moved aside:\n%s",
						got, got.Refused, r)
				}
			} else {
				lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
				if len(lines) != 4 || !strings.HasPrefix(lines[0], "f.db: the store file refuses group 5 of the write-ahead log: ") ||
					strings.Contains(lines[0], "ckpt:") ||
					!strings.HasPrefix(lines[1], "kept 1 group before it; dropped groups 5-6, ") ||
					!strings.HasPrefix(lines[2], "the log is now f.db-wal.damaged-") ||
					!strings.Contains(lines[3], "still in f.db") || !strings.Contains(lines[3], "'ckpt verify f.db'") {
					t.Errorf("recover says:\n%s\nwant the refusal, 1 group kept, groups 5-6 dropped, where the log went, the damage left", r)
				}
			}
			if r2 := runIn(t, dir, "", "recover", "f.db"); r2.code != 0 || !strings.Contains(r2.stdout, "not damaged; nothing to recover") {
				t.Errorf("second recover:\n%s", r2)
			}
			if v := runIn(t, dir, "", "verify", "f.db"); v.code != 1 || strings.Contains(v.stdout+v.stderr, "write-ahead log") ||
				strings.Contains(v.stdout+v.stderr, "recover") || !strings.Contains(v.stdout, "history order") {
				t.Errorf("verify after recover: want the file's own damage (thread t's history order), not the log:\n%s", v)
			}
			if sh := runIn(t, dir, "", "show", "f.db", "u", "--json"); sh.code != 0 || !strings.Contains(sh.stdout, kept) {
				t.Errorf("show of u after recover, want the Save acknowledged before the refused group (%s):\n%s", kept, sh)
			}
		})
	}
}
