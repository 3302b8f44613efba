package main

// What the read commands say of a file whose damage is confined to some
// threads (a record's checksum fails, or a read-only open kept a file whose
// pages lead into a cycle under one thread's buckets): the other threads
// read exactly, so verify counts them sound, threads lists them and
// export --skip-damaged saves them; the lost ones are named every time.

import (
	"strconv"
	"strings"
)

// maxNamed bounds the thread names one line gives; the rest are counted.
const maxNamed = 20

// quotedThreads is names Go-quoted (as Problem.String names a thread: a
// name no terminal garbles, which the commands take back), comma
// separated, the ones past maxNamed counted.
func quotedThreads(names []string) string {
	q := make([]string, 0, min(len(names), maxNamed))
	for _, n := range names[:min(len(names), maxNamed)] {
		q = append(q, strconv.Quote(n))
	}
	s := strings.Join(q, ", ")
	if len(names) > maxNamed {
		s += " and " + count(len(names)-maxNamed, "more", "more")
	}
	return s
}
