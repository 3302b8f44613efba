package main

// What the report says about the machine and the peer's setup.

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes the host: cores, memory, CPU, kernel, Go.
func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s), %s memory, %s/%s kernel %s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, kernel, runtime.Version())
}

// loadAvg returns /proc/loadavg's three averages, or "?": a sign of other
// work on the machine during the run.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func versions(v map[string]string) string {
	var parts []string
	for _, k := range []string{"@langchain/langgraph-checkpoint-sqlite", "@langchain/langgraph-checkpoint", "better-sqlite3", "@langchain/core", "node"} {
		if s, ok := v[k]; ok {
			parts = append(parts, k+" "+s)
		}
	}
	return strings.Join(parts, ", ")
}

func pragmas(p map[string]map[string]any) string {
	var parts []string
	for _, m := range []string{"shipped", "full"} {
		if x, ok := p[m]; ok {
			parts = append(parts, fmt.Sprintf("%s: journal_mode=%v synchronous=%v (%v), SQLite %v", m, x["journal_mode"], x["synchronous"], x["synchronous_name"], x["sqlite_version"]))
		}
	}
	return strings.Join(parts, "; ")
}
