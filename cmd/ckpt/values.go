package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// jsonValue and jsonable are the history browser's: the command and the
// pages print values the same way.
func jsonValue(raw ckpt.Raw) (any, error) { return web.JSONValue(raw) }

func jsonable(v any) any { return web.Jsonable(v) }

// compactJSON prints v on one line.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// parseFilter turns "key=value" flags into a metadata filter. A value that
// is JSON (3, true, "x", {"a":1}) is taken as JSON; anything else is a
// string, so --filter node=writer works without quotes.
func parseFilter(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	f := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Sprintf("--filter %q: want key=value", p)}
		}
		f[k] = filterValue(v)
	}
	return f, nil
}

func filterValue(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}
