package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// 'ckpt backup SRC DST' with DST a symbolic link: the line named the
// link's target, not what the user typed ("backup to adir: that is a
// directory" for 'ckpt backup demo.db dirlink'), and for a link into a
// missing directory it named the hidden temporary file ("open
// nodir/x.ckpt-backup-123.tmp: no such file or directory"). The line
// names DST as typed, with the target beside it; the exit status is
// that of the same mistake without a link.
func TestH191BackupToALinkNamesWhatWasTyped(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, to := range map[string]string{"dirlink": "adir", "storelink": "demo.db", "dangle": "nodir/x"} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		dst  string
		code int
		want []string
	}{
		{"dirlink", exitUsage, []string{"ckpt: backup to dirlink (a link to adir): that is a directory"}},
		{"storelink", exitUsage, []string{"ckpt: backup to storelink (a link to demo.db): that is the store's own file or log"}},
		{"dangle", exitError, []string{"ckpt: backup to dangle (a link to nodir/x): no directory nodir", "dangle left as it was"}},
	} {
		r := runIn(t, dir, "", "backup", "demo.db", c.dst)
		failsWith(t, r, c.code, c.want[0])
		for _, w := range c.want[1:] {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("want %q:\n%s", w, r)
			}
		}
		if strings.Contains(r.stderr, ".ckpt-backup-") {
			t.Errorf("the line names the temporary file:\n%s", r)
		}
	}
	// Without a link, the line is as it was.
	failsWith(t, runIn(t, dir, "", "backup", "demo.db", "adir"), exitUsage, "ckpt: backup to adir: that is a directory")
}
