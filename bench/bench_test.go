package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary be W4's Open child (w4open.go), as the
// bench binary is.
func TestMain(m *testing.M) {
	if os.Getenv(w4ChildEnv) != "" {
		os.Exit(w4Child(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The vectors published with the peer harness (its README, "Text generator").
func TestTextMatchesPublishedVectors(t *testing.T) {
	for _, v := range []struct {
		seed uint64
		n    int
		sum  string
	}{
		{0, 64, "311d75b5f742a2edac52250649e608956c2c6c7604973dc7ccdbb6c0bef679ec"},
		{1000003, 64, "b15967932a4be5294a25826cefd5437f01e4ccd103f4a7cc7f644b9bbe17eb94"},
		{0, 1024, "da9f9a7163b59c0179ced08dc479330a0f62937e1e19772038ffc8e91e7319d6"},
		{7000010, 200, "8d57575784e692f6079a6212b1552f77528bcd95c9248e76466983c771e832a1"},
		{42, 200, "c52e368bcd5920c08c17836764c6c5a034ebb7a4e3d942bf5584f310ca9ec727"},
	} {
		got := text(v.seed, v.n)
		sum := sha256.Sum256([]byte(got))
		if len(got) != v.n || hex.EncodeToString(sum[:]) != v.sum {
			t.Errorf("text(%d, %d): %d bytes, sha256 %x, want %s", v.seed, v.n, len(got), sum, v.sum)
		}
	}
	if got, want := text(0, 64), "nntg fyvx gywdy gbexoh jwjyazshso bwudt i qbfyxamxsk qc wy zz xh"; got != want {
		t.Errorf("text(0, 64) = %q, want %q", got, want)
	}
}

func TestTextHasNoLeadingOrDoubleSpace(t *testing.T) {
	for seed := range uint64(200) {
		s := text(seed, 300)
		if len(s) != 300 || strings.HasPrefix(s, " ") || strings.Contains(s, "  ") || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz ") != "" {
			t.Fatalf("text(%d, 300) = %q", seed, s)
		}
	}
}

// peerSrc finds the peer harness, or skips.
func peerSrc(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	src := os.Getenv("CKPT_PEER_SRC")
	if src == "" {
		if root := moduleRoot(); root != "" {
			src = filepath.Join(root, "..", "shared", "peers", "langgraphjs")
		}
	}
	if _, err := os.Stat(filepath.Join(src, "bench.mjs")); err != nil {
		t.Skipf("peer harness not found (set CKPT_PEER_SRC): %v", err)
	}
	return src
}

// TestTextMatchesPeer runs the peer's own text() under node for a few
// seeds and lengths. The generator section of bench.mjs is evaluated on
// its own, so its npm packages need not be installed.
func TestTextMatchesPeer(t *testing.T) {
	src := peerSrc(t)
	b, err := os.ReadFile(filepath.Join(src, "bench.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	code := string(b)
	start, end := strings.Index(code, "const MASK64"), strings.Index(code, "function parseArgs")
	if start < 0 || end < start {
		t.Fatal("bench.mjs: generator section not found (const MASK64 ... function parseArgs)")
	}
	type tc struct {
		Seed uint64 `json:"seed"`
		N    int    `json:"n"`
	}
	cases := []tc{{0, 64}, {1, 1}, {42, 200}, {1000003, 5000}, {99 * 1000003, 200}, {12345678901, 1024}, {1 << 52, 77}}
	js, _ := json.Marshal(cases)
	script := strings.ReplaceAll(code[start:end], "export function", "function") +
		"\nconst cases = " + string(js) + ";\nconsole.log(JSON.stringify(cases.map((c) => text(c.seed, c.n))));\n"
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i, c := range cases {
		if want := text(c.Seed, c.N); got[i] != want {
			t.Errorf("text(%d, %d): peer %q, ckpt %q", c.Seed, c.N, got[i], want)
		}
	}
}

// TestChecksumMatchesPeer runs peer_checksum.mjs against the peer's
// bench.mjs; it needs the peer's npm packages, installed by a run with
// --peer into bench/.peer.
func TestChecksumMatchesPeer(t *testing.T) {
	src := peerSrc(t)
	nm := filepath.Join(moduleRoot(), "bench", ".peer", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "@langchain", "langgraph-checkpoint-sqlite")); err != nil {
		t.Skip("peer packages not installed (go run ./bench --peer langgraphjs installs them)")
	}
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(src, "bench.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "bench.mjs"), b, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "peer_checksum.mjs"), peerChecksumJS, 0o644))
	must(t, os.Symlink(nm, filepath.Join(dir, "node_modules")))
	p := &peer{dir: dir, stderr: io.Discard}
	for _, in := range []*w1Input{buildW1Input(3, 4, 50, 100, 20), buildW1Input(100, 50, 200, 1024, 10000)} {
		got, err := p.checksum(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if want := in.checksum(); got != want {
			t.Errorf("T=%d S=%d: peer %s, ckpt %s", in.T, in.S, got, want)
		}
	}
}

func TestChecksumCoversInput(t *testing.T) {
	a := buildW1Input(3, 4, 50, 100, 20).checksum()
	if a != buildW1Input(3, 4, 50, 100, 20).checksum() {
		t.Fatal("checksum is not deterministic")
	}
	for _, other := range []*w1Input{buildW1Input(3, 5, 50, 100, 20), buildW1Input(3, 4, 51, 100, 20), buildW1Input(3, 4, 50, 100, 21)} {
		if other.checksum() == a {
			t.Errorf("T=%d S=%d P=%d picks=%d: same checksum as a different input", other.T, other.S, other.P, len(other.picks))
		}
	}
}

// A peer whose text differs is refused before anything is measured.
func TestSetupPeerRefusesOtherText(t *testing.T) {
	for _, tool := range []string{"node", "npm", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	src := t.TempDir()
	for _, f := range peerFiles {
		must(t, os.WriteFile(filepath.Join(src, f), []byte("{}\n"), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/usr/bin/env bash\necho 'not the same text'\n"), 0o755))
	_, err := setupPeer(context.Background(), src, filepath.Join(t.TempDir(), "cache"), io.Discard)
	if !errors.Is(err, errPeerInput) {
		t.Fatalf("setupPeer: %v, want errPeerInput", err)
	}
}

func TestSetupPeerMissingHarness(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	_, err := setupPeer(context.Background(), filepath.Join(t.TempDir(), "nowhere"), t.TempDir(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--peer-src") {
		t.Fatalf("setupPeer on a missing folder: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"--quick", "--threads", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.T != 5 || c.S != 6 || c.writers != 4 || c.reads != 200 || c.w2Steps != 200 || c.plot != "" {
		t.Errorf("--quick --threads 5: %+v", c)
	}
	c, err = parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.T != 100 || c.S != 50 || c.P != 200 || c.C != 1024 || c.writers != 16 || c.reads != 10000 || c.w2Steps != 2000 {
		t.Errorf("defaults: %+v", c)
	}
	if c.w4T != 2000 || c.w4S != 500 || c.w4LogMB != 32 || !c.w4Cold || c.w4Peer != 50 {
		t.Errorf("W4 defaults: %+v", c)
	}
	for _, bad := range [][]string{
		{"--peer", "postgres"},
		{"--peer", "langgraphjs", "--reads", "5"},
		{"--threads", "0"},
		{"--peer-w2", "fast"},
		{"--w4-threads", "0"},
		{"--w4-log-mb", "64"}, // a crash cannot leave more than 32 MiB to replay
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if pct(v, 50) != 5 || pct(v, 99) != 10 || pct(v, 10) != 1 || !math.IsNaN(pct(nil, 50)) {
		t.Fatalf("pct: %v %v %v", pct(v, 50), pct(v, 99), pct(v, 10))
	}
	if median([]float64{3, 1, 2}) != 2 {
		t.Fatal("median")
	}
}

func TestTargetVerdicts(t *testing.T) {
	for _, c := range []struct {
		t    target
		want string
	}{
		{target{measured: 2, want: 1.5}, "**met**"},
		{target{measured: 1, want: 1.5}, "**missed**"},
		{target{measured: 0.4, want: 0.5, atMost: true}, "**met**"},
		{target{measured: 0.6, want: 0.5, atMost: true}, "**missed**"},
		{target{measured: math.NaN(), want: 5}, "not measured"},
		{target{measured: 3, reportOnly: true}, "reported"},
	} {
		if got := c.t.verdict(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.t, got, c.want)
		}
	}
}

// TestQuickRun runs the whole program on a small load (no peer): every
// figure is measured and checked (the reads verify what W1 wrote) and the
// plot is a well-formed SVG.
func TestQuickRun(t *testing.T) {
	t.Parallel() // each run has its own directory; they wait on fsync more than they compute
	cfg, err := parseFlags([]string{"--quick", "--threads", "4", "--steps", "4", "--writers", "2", "--reads", "50", "--w2-steps", "120"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = t.TempDir()
	cfg.plot = filepath.Join(t.TempDir(), "w2.svg")
	var out, log bytes.Buffer
	if err := run(context.Background(), cfg, &out, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	s := out.String()
	for _, want := range []string{
		"W1 steps/s, 1 writer, durable: Put+PutWrites", "W1 steps/s, 2 writers, durable: PutFull",
		"ckpt Async (Flush timed)", "reference: raw bbolt", "R5 full history", "## Targets",
		"## W2: one thread, 120 steps", "getTuple(latest) p50 of 10",
		"2 Sync writers, beside a script loading web pages", "2 Sync writers, beside a CPU burner (control)",
		"W1 input sha256 (texts + R2 picks): ckpt " + buildW1Input(4, 4, 200, 1024, 50).checksum(),
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "| W1 steps/s") || strings.HasPrefix(l, "| R") {
			cells := strings.Split(l, "|")
			if v := strings.TrimSpace(cells[3]); v == "–" || v == "NaN" || v == "0.00" {
				t.Errorf("figure not measured: %s", l)
			}
		}
	}
	checkQuickSVG(t, cfg.plot)
	if entries, _ := os.ReadDir(filepath.Join(cfg.dir, "ckpt")); len(entries) != 0 {
		t.Errorf("databases left behind: %v", entries)
	}
}

// --web-only runs just issue 15's figure, each repetition in a row of its
// own; every page the loop loads answered 200 first (webLoad checks).
func TestWebOnlyRun(t *testing.T) {
	t.Parallel()
	s, dir := runWith(t, "--web-only", "--quick", "--threads", "4", "--steps", "3", "--writers", "2", "--repeat", "2")
	for _, want := range []string{"| 1 | ", "| 2 | ", "browsing / alone", "medians: browsing / alone"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "## W1 and reads") {
		t.Error("--web-only ran the other figures too")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ckpt")); len(entries) != 0 {
		t.Errorf("databases left behind: %v", entries)
	}
}

// --w3 runs the retention workload: the prune keeps 5 per thread and
// compaction does not grow the file.
func TestW3Runs(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"--quick", "--threads", "2", "--steps", "2", "--writers", "1", "--reads", "10", "--w2-steps", "0", "--w3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r, err := runW3(context.Background(), cfg, t.TempDir(), func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if r.checkpointsAfter != cfg.w3T*w3Keep || r.checkpointsExpected != cfg.w3T*w3Keep {
		t.Fatalf("%d checkpoints left, want %d", r.checkpointsAfter, cfg.w3T*w3Keep)
	}
	if r.bytesAfterCompact > r.bytesAfterPrune || r.pruneSeconds <= 0 {
		t.Fatalf("W3 result %+v", r)
	}
	cfg.dir = t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "## W3: retention") || !strings.Contains(out.String(), "prune to the latest 5 per thread") {
		t.Fatalf("--w3 output lacks the W3 table:\n%s", out.String())
	}
}

// runWith runs the bench with args in a temporary directory and returns
// what it printed and the directory; a failed run fails the test with the
// bench's log.
func runWith(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = t.TempDir()
	var out, log bytes.Buffer
	if err := run(context.Background(), cfg, &out, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	return out.String(), cfg.dir
}

// --w4-only runs W4 small: the load, the three Opens in child processes
// (warm: no page cache is dropped in a test), RSS, the reads against W1,
// GC beside writers and compaction, every figure measured and checked.
func TestW4Runs(t *testing.T) {
	t.Parallel()
	s, dir := runWith(t, "--w4-only", "--w4-threads", "64", "--w4-steps", "50", "--w4-log-mb", "1", "--w4-cold=false",
		"--threads", "8", "--steps", "10", "--writers", "4", "--reads", "200")
	for _, want := range []string{
		"## W4: scale (64 threads x 50 steps = 3200 checkpoints, 4 Sync writers)",
		"load steps/s over the last 10% of the load", "Open after a crash with a log of", "groups), warm",
		"RSS after 200 random getTuple(thread, id)", "R4 per checkpoint returned", "### W4: targets",
		"R1 p50 on W4 within 1.5x of W1", "checkpoints of the W4 threads left (want 320)",
		// The same reads on W1's threads at W4's length (the same states).
		"### W4: reads against W1's 8 threads at W4's 50 steps (8x50", "R1 p50 on W4 within 1.5x of 8x50 (same states)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 4 || strings.HasPrefix(l, "| figure") || strings.HasPrefix(l, "| -") || strings.HasPrefix(l, "| issue") {
			continue
		}
		if strings.HasPrefix(l, "| 18 ") {
			if strings.Contains(l, "not measured") {
				t.Errorf("target not measured: %s", l)
			}
			continue
		}
		// The writers beside GC may not fit a step into a GC this small.
		if strings.Contains(l, "beside GC") {
			continue
		}
		if v := strings.TrimSpace(cells[3]); v == "–" || v == "NaN" {
			t.Errorf("figure not measured: %s", l)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ckpt")); len(entries) != 0 {
		t.Errorf("databases left behind: %v", entries)
	}
}

// --redis runs W1 on the Redis backend beside ckpt's figures.
func TestRedisRuns(t *testing.T) {
	t.Parallel()
	redistest.Need(t)
	cfg, err := parseFlags([]string{"--quick", "--threads", "3", "--steps", "3", "--writers", "2", "--reads", "10", "--w2-steps", "0", "--redis"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## W1 on the Redis backend", "| everysec | Put+PutWrites | 1 |", "| always | PutFull | 1 |", "| always | Put+PutWrites | 2 |"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("--redis output lacks %q:\n%s", want, out.String())
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --reads-only runs W1's load and the reads alone, a row per repetition,
// every figure measured, and leaves no database behind.
func TestReadsOnlyRun(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"--reads-only", "--threads", "4", "--steps", "4", "--reads", "50", "--repeat", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = t.TempDir()
	var out, log bytes.Buffer
	if err := run(context.Background(), cfg, &out, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	s := out.String()
	for _, want := range []string{"| 1 | ", "| 2 | ", "median R1 "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "NaN") || strings.Contains(s, "| 0.0 |") {
		t.Errorf("a figure was not measured:\n%s", s)
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.dir, "ckpt")); len(entries) != 0 {
		t.Errorf("databases left behind: %v", entries)
	}
}
