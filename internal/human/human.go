// Package human formats store figures for people, the same way in the
// ckpt command and in the history browser.
package human

import (
	"fmt"
	"strconv"
)

// Bytes formats a size in binary units: "512 B", "1.5 KiB", "16.8 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// NS names a checkpoint namespace: the root namespace is "(root)".
func NS(ns string) string {
	if ns == "" {
		return "(root)"
	}
	return ns
}

// Count says n things in words: "1 thread", "2 threads", "0 index
// entries" (one is the singular, many the plural).
func Count[N Integer](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Grouped writes n with its digits in groups of three, as a person reads
// a count in a table: "100,000".
func Grouped[N Integer](n N) string {
	s := strconv.FormatInt(int64(n), 10)
	if uint64(n) > 1<<63-1 && n > 0 {
		s = strconv.FormatUint(uint64(n), 10)
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}

// Integer is what Count counts in.
type Integer interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64
}

// Items is how many items of one list or map a person is shown at
// once: the ckpt command's diff prints as many appended items as the
// history browser draws per container, and says how many more there
// are. A list that grew by 100,000 items was 100,000 lines and 7 MB of
// HTML.
const Items = 200
