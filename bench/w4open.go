package main

// W4's Open figures. Each Open runs in a child process of this binary
// (w4ChildEnv set; main and TestMain hand it to w4Child), so the figures
// are a fresh process's: its RSS holds the store and not the bench's input,
// and with root the page cache is dropped first (cold). Three Opens:
//
//   - the file as the load left it (everything applied), and the page walk
//     Open makes before bbolt's Open (internal/engine/precheck.go) alone,
//     so its share of Open shows;
//   - then RSS after Open and after 10,000 getTuple(thread, id) (R2's picks);
//   - a copy of the file with a log to replay, made the way a crash makes
//     one: a child opens the copy, holds the applier off with a backup that
//     never ends (a backup copies the file as it was when it began), has
//     Sync writers log W1 steps to threads of their own until the log
//     holds --w4-log-mb MB that bbolt lacks, and exits without Close. The
//     engine bounds those bytes: past 32 MiB unapplied the commit loop
//     applies the log itself (internal/engine/commit.go, maxUnapplied), so
//     a crash cannot leave more to replay than that, and the flag is capped
//     at 32 MB (WORKLOAD.md asks for 64).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
)

// w4ChildEnv, when set, makes the binary a W4 Open child (w4Child).
const w4ChildEnv = "CKPT_BENCH_W4_CHILD"

// w4OpenFigures are the Open, page walk and RSS figures.
type w4OpenFigures struct {
	cold    bool   // the first walk and Open (and the replay) started from a dropped page cache
	coldWhy string // why not, when not

	walkMs, openMs         float64 // the first of each (cold when cold)
	walkWarmMs, openWarmMs float64 // again, page cache warm
	rssBase, rssOpen       float64 // MB: the child before Open, after Open
	rssReads               float64 // MB: after the getTuple calls
	rssReadsAnon           float64 // MB: of which anonymous (heap); the rest is the file's mapped pages
	rssCalls               int

	replayLogBytes int64 // bytes of the groups in the log
	logGroups      int   // groups in the log
	replayGroups   int64 // groups Open replayed: those bbolt did not hold yet
	replayOpenMs   float64
}

// w4ChildReport is what a child prints (one JSON line).
type w4ChildReport struct {
	Ms        float64 `json:"ms"`
	Replayed  int64   `json:"replayed"`
	RSSBase   float64 `json:"rss_base_mb"`
	RSSOpen   float64 `json:"rss_open_mb"`
	RSSReads  float64 `json:"rss_reads_mb"`
	AnonReads float64 `json:"anon_reads_mb"`
	Calls     int     `json:"calls"`
}

// w4Child is the child's main: "walk PATH" times the page walk alone;
// "open PATH [PICKS]" times ckpt.Open, then reads RSS and, with a picks
// file (lines "thread\tcheckpoint id"), makes those getTuple calls and
// reads RSS again. It prints a w4ChildReport and returns the exit code.
func w4Child(args []string, stdout, stderr io.Writer) int {
	rep, err := w4ChildRun(args)
	if err != nil {
		fmt.Fprintln(stderr, "bench W4 child:", err)
		return 1
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintln(stdout, string(b))
	return 0
}

func w4ChildRun(args []string) (*w4ChildReport, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("usage: walk PATH | open PATH [PICKS]")
	}
	path := args[1]
	rep := &w4ChildReport{}
	switch args[0] {
	case "walk":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		t0 := time.Now()
		if err := engine.CheckPages(f); err != nil {
			return nil, err
		}
		rep.Ms = float64(time.Since(t0).Microseconds()) / 1e3
		return rep, nil
	case "fill":
		return nil, w4ChildFill(args)
	case "open":
		var picks []ckpt.Config
		if len(args) > 2 {
			var err error
			if picks, err = readPicks(args[2]); err != nil {
				return nil, err
			}
		}
		rep.RSSBase, _ = rssMB()
		t0 := time.Now()
		st, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			return nil, err
		}
		rep.Ms = float64(time.Since(t0).Microseconds()) / 1e3
		rep.Replayed = st.Metrics().LogGroupsReplayed
		rep.RSSOpen, _ = rssMB()
		ctx := context.Background()
		for _, c := range picks {
			tup, err := st.GetTuple(ctx, c)
			if err != nil {
				_ = st.Close()
				return nil, fmt.Errorf("getTuple %s %s: %w", c.ThreadID, c.CheckpointID, err)
			}
			if tup.Config.CheckpointID != c.CheckpointID {
				_ = st.Close()
				return nil, fmt.Errorf("getTuple %s: asked for %s, got %s", c.ThreadID, c.CheckpointID, tup.Config.CheckpointID)
			}
		}
		rep.Calls = len(picks)
		rep.RSSReads, rep.AnonReads = rssMB()
		return rep, st.Close()
	}
	return nil, fmt.Errorf("unknown child mode %q", args[0])
}

// rssMB reads the process's resident set (VmRSS) and its anonymous part
// (RssAnon) in MB from /proc (Linux); NaN elsewhere.
func rssMB() (rss, anon float64) {
	rss, anon = nan, nan
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024 / 1e6
		case "RssAnon:":
			anon = kb * 1024 / 1e6
		}
	}
	return
}

func readPicks(path string) ([]ckpt.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ckpt.Config
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		th, id, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			return nil, fmt.Errorf("picks: bad line %q", sc.Text())
		}
		out = append(out, ckpt.Config{ThreadID: th, CheckpointID: id})
	}
	return out, sc.Err()
}

// runChild runs this binary as a W4 child and parses its report.
func runChild(ctx context.Context, args ...string) (*w4ChildReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, exe, args...)
	c.Env = append(os.Environ(), w4ChildEnv+"=1")
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("W4 child %q: %w: %s", args, err, stderr.String())
	}
	rep := &w4ChildReport{}
	if err := json.Unmarshal(out, rep); err != nil {
		return nil, fmt.Errorf("W4 child %q: %w (output %q)", args, err, out)
	}
	return rep, nil
}

// dropCaches writes back dirty pages and drops the page cache (root only).
func dropCaches() error {
	if err := exec.Command("sync").Run(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// copyFile copies src to a new file dst and fsyncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}

// measureW4Open measures the three Opens (see the file's comment).
func measureW4Open(ctx context.Context, cfg config, path string, in *w1Input, threads []thread, writers int, logf func(string, ...any)) (*w4OpenFigures, error) {
	dir := filepath.Dir(path)
	o := &w4OpenFigures{}
	picks := filepath.Join(dir, "picks.txt")
	var b strings.Builder
	for _, p := range in.picks {
		fmt.Fprintf(&b, "%s\t%s\n", threads[p[0]].id, threads[p[0]].ids[p[1]])
	}
	if err := os.WriteFile(picks, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(picks)

	// cool drops the page cache if the run is cold.
	o.cold = cfg.w4Cold
	if !cfg.w4Cold {
		o.coldWhy = "--w4-cold=false"
	}
	cool := func() error {
		if !o.cold {
			return nil
		}
		if err := dropCaches(); err != nil {
			o.cold, o.coldWhy = false, err.Error()
		}
		return nil
	}
	_ = cool()
	logf("W4: page walk alone (%s)", coldWord(o.cold))
	walk, err := runChild(ctx, "walk", path)
	if err != nil {
		return nil, err
	}
	_ = cool()
	logf("W4: Open, everything applied (%s), RSS, %d getTuple(thread, id)", coldWord(o.cold), len(in.picks))
	open, err := runChild(ctx, "open", path, picks)
	if err != nil {
		return nil, err
	}
	o.walkMs, o.openMs = walk.Ms, open.Ms
	o.rssBase, o.rssOpen, o.rssReads, o.rssReadsAnon, o.rssCalls = open.RSSBase, open.RSSOpen, open.RSSReads, open.AnonReads, open.Calls
	if walk, err = runChild(ctx, "walk", path); err != nil {
		return nil, err
	}
	if open, err = runChild(ctx, "open", path); err != nil {
		return nil, err
	}
	o.walkWarmMs, o.openWarmMs = walk.Ms, open.Ms

	// The log to replay.
	rpath := filepath.Join(dir, "replay.db")
	defer os.Remove(rpath)
	defer os.Remove(rpath + "-wal")
	logf("W4: copying the file, then a writer that stops as a crash would once its log holds %d MB", cfg.w4LogMB)
	if err := copyFile(path, rpath); err != nil {
		return nil, err
	}
	if o.logGroups, o.replayLogBytes, err = w4FillLog(ctx, rpath, int64(cfg.w4LogMB)*1e6, writers, cfg); err != nil {
		return nil, err
	}
	_ = cool()
	logf("W4: Open with a log of %.1f MB (%d groups) (%s)", float64(o.replayLogBytes)/1e6, o.logGroups, coldWord(o.cold))
	rep, err := runChild(ctx, "open", rpath)
	if err != nil {
		return nil, err
	}
	o.replayOpenMs, o.replayGroups = rep.Ms, rep.Replayed
	return o, nil
}

func coldWord(cold bool) string {
	if cold {
		return "cold: page cache dropped"
	}
	return "warm"
}

// w4FillLog runs a child that opens the store at path, holds its applier
// off, has Sync writers log W1 steps to threads of their own until target
// bytes of log are unapplied, and then exits without Close, as a crash
// would. It returns the
// log's groups and their bytes (read aside from a copy of the log: the
// Open that replays it starts a new log).
func w4FillLog(ctx context.Context, path string, target int64, writers int, cfg config) (groups int, bytes int64, err error) {
	if _, err := runChild(ctx, "fill", path, strconv.FormatInt(target, 10), strconv.Itoa(writers), strconv.Itoa(cfg.P), strconv.Itoa(cfg.C)); err != nil {
		return 0, 0, err
	}
	saved := path + ".wal-copy"
	defer os.Remove(saved)
	if err := copyFile(path+"-wal", saved); err != nil {
		return 0, 0, err
	}
	// ScanLog returns the groups after the one it is told bbolt holds, and
	// refuses a log that starts past it: tell it the one before the log's
	// first.
	data, err := os.ReadFile(saved)
	if err != nil {
		return 0, 0, err
	}
	first, ok := engine.FirstGroup(data)
	if !ok {
		return 0, 0, fmt.Errorf("the log holds no record (%d bytes)", len(data))
	}
	sc, err := engine.ScanLog(saved, first-1)
	if err != nil {
		return 0, 0, err
	}
	if sc.Damage != nil {
		return 0, 0, sc.Damage.Err(saved)
	}
	for _, g := range sc.Groups {
		bytes += int64(g.Size)
	}
	return len(sc.Groups), bytes, nil
}

// stuckWriter blocks every Write for ever.
type stuckWriter struct{}

func (stuckWriter) Write([]byte) (int, error) { select {} }

// w4ChildFill is the child's "fill PATH TARGET WRITERS P C" (w4FillLog).
// It never returns: it exits when the log is full enough (or on an error).
func w4ChildFill(args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("usage: fill PATH TARGET WRITERS P C")
	}
	var n [4]int
	for i, a := range args[2:] {
		v, err := strconv.Atoi(a)
		if err != nil {
			return err
		}
		n[i] = v
	}
	path, target, writers := args[1], int64(n[0]), n[1]
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		return err
	}
	const steps = 50
	in := buildW1Input(writers, steps, n[2], n[3], 0)
	ctx := context.Background()
	var count atomic.Int64
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for g := 0; ; g++ {
				th := thread{id: fmt.Sprintf("replay-%d-%d", w, g), runID: "run-replay", ids: make([]string, steps)}
				for s := range steps {
					if _, err := doStep(ctx, st, in, &th, w, s, putThenWrites); err != nil {
						errc <- err
						return
					}
					count.Add(1)
				}
			}
		}()
	}
	// A backup to a writer that never returns from its first Write holds
	// the applier (a backup copies the file as it was when it began), so
	// the log fills with groups bbolt does not hold, up to the engine's
	// bound on them.
	go func() { errc <- st.Backup(ctx, stuckWriter{}) }()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("fill: %v", err)
		case <-time.After(time.Millisecond):
		}
		if st.Metrics().LogPendingBytes >= target {
			// A crash: the store is not closed, writes are in flight.
			b, _ := json.Marshal(w4ChildReport{Calls: int(count.Load())})
			fmt.Println(string(b))
			os.Exit(0)
		}
	}
}
