// Command bench measures ckpt on the shared workload (W1 chat, reads R1-R5,
// W2 long thread; W3 retention once wired) and, with --peer langgraphjs,
// runs LangGraph.js's SqliteSaver on the same work in the same invocation
// and prints one side-by-side table with ratios and the issues' targets.
//
//	go run ./bench                      # ckpt only
//	go run ./bench --peer langgraphjs   # side by side (needs Node 20 + npm)
//	go run ./bench --quick              # a small run, seconds
//	go run ./bench --w4-only            # W4: one million checkpoints (issue 18)
//	go run ./bench --writers-only       # 16 Sync writers against their ceiling (issue 18)
//	go run ./bench --w1-only            # one Sync writer against the fsync'd append (issue 14)
//
// The work is defined in shared/bench/WORKLOAD.md; the input text is the
// peer's xorshift64 text, and both sides print a checksum of it (the run
// stops when they differ).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
)

// config is everything a run is parameterised by.
type config struct {
	T, S, P, C    int    // W1 threads, steps, payload and context bytes
	writers       int    // concurrent writers
	reads         int    // R1 and R2 calls
	w2Steps       int    // W2 steps (0: skip W2)
	repeat        int    // W1 repetitions (medians are reported)
	peer          string // "" or "langgraphjs"
	peerSrc       string // the harness folder
	peerCache     string // where it is copied and installed
	peerW2        string // peer W2 durability: full, shipped or both
	dir           string // where the databases go ("" : a temp dir)
	plot          string // W2 plot SVG ("" : none)
	w3            bool   // run W3 (retention)
	w3T, w3S      int    // W3 threads and steps (1,000 x 100)
	redis         bool   // also run W1 on the Redis backend
	keep          bool   // keep the databases
	webOnly       bool   // run only issue 15's figure (writers beside browsing)
	longReadOnly  bool   // run only issue 13's figure (Sync Saves beside long reads)
	readsOnly     bool   // run only W1's load and the reads R1..R5
	writersOnly   bool   // run only the 16-writer figures and their ceiling (writersonly.go)
	w1Only        bool   // run only the one-writer Sync figures and their references (w1only.go)
	cpuProfile    string // --writers-only: CPU profile of the run
	mutexProfile  string // --writers-only: mutex contention profile of the run
	blockProfile  string // --writers-only: blocking profile of the run
	trace         string // --writers-only, --w1-only: execution trace of the run
	longReadPairs int    // interleaved (alone, beside) pairs of that figure

	// Issue 16's figures (metricscost.go, w3backup.go).
	metrics       bool // also run the metrics on/off figure
	metricsOnly   bool // run only that figure
	metricsRounds int  // its rounds
	w3Only        bool // run only W3 (with its backup figure)
	metricsAA     bool // control: both sides with the metrics on

	// Issue 18's W4 (w4.go): one million checkpoints.
	w4       bool // also run W4
	w4Only   bool // run only W4 (and the W1 reads it compares with)
	w4T, w4S int  // W4 threads and steps (2,000 x 500)
	w4LogMB  int  // MB of log left to replay for the second Open figure
	w4Cold   bool // drop the page cache before each Open figure (root only)
	w4Peer   int  // steps of the peer's anchor load (T x this; 50: the first 100,000)
}

func main() {
	// W4's Open and RSS figures run in a child process of this binary
	// (w4open.go): a fresh heap, and a cold start of the store.
	if os.Getenv(w4ChildEnv) != "" {
		os.Exit(w4Child(os.Args[1:], os.Stdout, os.Stderr))
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	quick := fs.Bool("quick", false, "a small run (T=8 S=6, 200 reads, W2 of 200 steps) to prove the program works; no peer")
	fs.IntVar(&c.T, "threads", 100, "W1 threads (T)")
	fs.IntVar(&c.S, "steps", 50, "W1 steps per thread (S)")
	fs.IntVar(&c.P, "payload", 200, "message payload bytes (P)")
	fs.IntVar(&c.C, "context", 1024, "context bytes (C)")
	fs.IntVar(&c.writers, "writers", 16, "concurrent writers for the concurrent W1 figures")
	fs.IntVar(&c.reads, "reads", 10000, "calls of R1 and of R2 (the peer always makes 10,000)")
	fs.IntVar(&c.w2Steps, "w2-steps", 2000, "W2 steps (0 skips W2)")
	fs.IntVar(&c.repeat, "repeat", 1, "repeat W1 and the reads N times (each on a fresh file); medians are reported")
	fs.StringVar(&c.peer, "peer", "", `run a peer on the same work: "langgraphjs"`)
	fs.StringVar(&c.peerSrc, "peer-src", "", "the peer harness folder (default: ../shared/peers/langgraphjs beside the module, or $CKPT_PEER_SRC)")
	fs.StringVar(&c.peerCache, "peer-cache", "", "where the harness is copied and its npm packages installed (default: bench/.peer in the module)")
	fs.StringVar(&c.peerW2, "peer-w2", "both", "peer W2 durability: full, shipped or both")
	fs.StringVar(&c.dir, "dir", "", "directory for the database files (default: a fresh temp dir, removed at the end)")
	fs.StringVar(&c.plot, "plot", "", `W2 plot SVG (default: bench/w2.svg in the module; "-" for none)`)
	fs.BoolVar(&c.w3, "w3", false, "also run W3 (retention: W1 at --w3-threads x --w3-steps, prune to the latest 5 per thread, compact)")
	fs.BoolVar(&c.redis, "redis", false, "also run W1 on the Redis backend (needs redis-server), AOF everysec and always")
	fs.IntVar(&c.w3T, "w3-threads", 1000, "W3 threads")
	fs.IntVar(&c.w3S, "w3-steps", 100, "W3 steps per thread")
	fs.BoolVar(&c.keep, "keep", false, "keep the database files")
	fs.BoolVar(&c.metrics, "metrics", false, "also run W1 (1 writer PutFull, Sync and NoSync) and R1 with the metrics on and off, interleaved (--metrics-rounds rounds)")
	fs.BoolVar(&c.metricsOnly, "metrics-only", false, "run only the metrics on/off figure")
	fs.IntVar(&c.metricsRounds, "metrics-rounds", 5, "rounds of the metrics on/off figure (each: two fresh stores, on and off, taking turns block by block)")
	fs.BoolVar(&c.metricsAA, "metrics-control", false, "the metrics on/off figure's control: both sides with the metrics on (an A/A run: the spread the design sees with no difference)")
	fs.BoolVar(&c.w3Only, "w3-only", false, "run only W3 (with its hot backup beside --writers Sync writers)")
	fs.BoolVar(&c.longReadOnly, "longread-only", false, "run only the figure of Sync Saves alone and beside long reads (--longread-pairs interleaved pairs, --repeat times)")
	fs.IntVar(&c.longReadPairs, "longread-pairs", longReadPairs, "interleaved (alone, beside) pairs of the long-read figure")
	fs.BoolVar(&c.readsOnly, "reads-only", false, "run only W1's load (Sync, 1 writer) and the reads R1..R5 on it (--repeat times, each on a fresh file)")
	fs.BoolVar(&c.writersOnly, "writers-only", false, "run only W1 with --writers Sync writers (Put+PutWrites, PutFull) and the group-committed log append they are measured against, interleaved, --repeat rounds, ratios printed")
	fs.BoolVar(&c.w1Only, "w1-only", false, "run only W1 with one Sync writer (Put+PutWrites, PutFull), the one-writer fsync'd log append and the fsync probe, interleaved, --repeat rounds, ratios printed")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "with --writers-only: write a CPU profile of the run to this file")
	fs.StringVar(&c.mutexProfile, "mutexprofile", "", "with --writers-only: write a profile of mutex contention (every event) during the run to this file")
	fs.StringVar(&c.blockProfile, "blockprofile", "", "with --writers-only: write a profile of blocking (every event: channels, selects, locks, conds) during the run to this file")
	fs.StringVar(&c.trace, "trace", "", "with --writers-only or --w1-only: write an execution trace of the run to this file (go tool trace)")
	fs.BoolVar(&c.webOnly, "web-only", false, "run only the figure of Sync writers alone and beside a script loading web pages (--repeat times)")
	fs.BoolVar(&c.w4, "w4", false, "also run W4 (scale: --w4-threads x --w4-steps by --writers Sync writers; Open, RSS, reads against W1, GC beside writers, compaction)")
	fs.BoolVar(&c.w4Only, "w4-only", false, "run only W4 (with the W1 store its reads are compared with)")
	fs.IntVar(&c.w4T, "w4-threads", 2000, "W4 threads")
	fs.IntVar(&c.w4S, "w4-steps", 500, "W4 steps per thread")
	fs.IntVar(&c.w4LogMB, "w4-log-mb", 32, "W4: MB (10^6 bytes) of write-ahead log a crash leaves for Open to replay (at most 32: the engine applies its log past 32 MiB unapplied)")
	fs.BoolVar(&c.w4Cold, "w4-cold", true, "W4: drop the page cache before each Open figure (needs root; otherwise the figures are warm)")
	fs.IntVar(&c.w4Peer, "w4-peer-steps", 50, "W4 with --peer: the peer loads --w4-threads x this many steps (the first 100,000 checkpoints of W4)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("threads", &c.T, 8)
		def("steps", &c.S, 6)
		def("writers", &c.writers, 4)
		def("reads", &c.reads, 200)
		def("w2-steps", &c.w2Steps, 200)
		def("w3-threads", &c.w3T, 20)
		def("w3-steps", &c.w3S, 10)
		def("w4-threads", &c.w4T, 32)
		def("w4-steps", &c.w4S, 20)
		def("w4-log-mb", &c.w4LogMB, 1)
		def("w4-peer-steps", &c.w4Peer, 10)
		if !set["w4-cold"] {
			c.w4Cold = false // a quick run leaves the page cache alone
		}
		if !set["plot"] {
			c.plot = "-"
		}
	}
	if c.w4T < 1 || c.w4S < 1 || c.w4LogMB < 1 || c.w4LogMB > 32 || c.w4Peer < 1 {
		return c, fmt.Errorf("w4-threads, w4-steps and w4-peer-steps must be >= 1, w4-log-mb 1 to 32")
	}
	if (c.cpuProfile != "" || c.mutexProfile != "" || c.blockProfile != "") && !c.writersOnly {
		return c, fmt.Errorf("--cpuprofile, --mutexprofile and --blockprofile go with --writers-only")
	}
	if c.trace != "" && !c.writersOnly && !c.w1Only {
		return c, fmt.Errorf("--trace goes with --writers-only or --w1-only")
	}
	if c.w3T < 1 || c.w3S < 1 {
		return c, fmt.Errorf("w3-threads and w3-steps must be >= 1")
	}
	if c.T < 1 || c.S < 1 || c.P < 0 || c.C < 0 || c.writers < 1 || c.reads < 1 || c.w2Steps < 0 || c.repeat < 1 || c.metricsRounds < 1 || c.longReadPairs < 1 {
		return c, fmt.Errorf("threads, steps, writers, reads, repeat, metrics-rounds and longread-pairs must be >= 1; payload, context and w2-steps >= 0")
	}
	switch c.peer {
	case "", "langgraphjs":
	default:
		return c, fmt.Errorf("unknown peer %q (known: langgraphjs)", c.peer)
	}
	if c.peer != "" && c.reads != 10000 {
		return c, fmt.Errorf("the peer makes 10,000 R1/R2 calls: --reads must stay 10000 with --peer")
	}
	switch c.peerW2 {
	case "full", "shipped", "both":
	default:
		return c, fmt.Errorf("--peer-w2 must be full, shipped or both")
	}
	root := moduleRoot()
	if c.peerSrc == "" {
		c.peerSrc = os.Getenv("CKPT_PEER_SRC")
	}
	if c.peerSrc == "" && root != "" {
		c.peerSrc = filepath.Join(root, "..", "shared", "peers", "langgraphjs")
	}
	if c.peerCache == "" && root != "" {
		c.peerCache = filepath.Join(root, "bench", ".peer")
	}
	if c.plot == "" && root != "" {
		c.plot = filepath.Join(root, "bench", "w2.svg")
	}
	if c.plot == "-" {
		c.plot = ""
	}
	if c.peer != "" && (c.peerSrc == "" || c.peerCache == "") {
		return c, fmt.Errorf("run from inside the module, or give --peer-src and --peer-cache")
	}
	return c, nil
}

// moduleRoot finds the ckpt module above the working directory, or "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/ckpt-go/ckpt\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
