package main

import (
	"encoding/json"
	"fmt"
	"maps"
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

// parseFilter turns the --filter flags into a metadata filter. Each flag
// holds one or more key=value conditions separated by commas, read as the
// history browser reads its filter (web.ParseFilter): a value that is JSON
// (3, true, "x", {"a":1}) is taken as JSON, anything else is a string, so
// --filter node=writer works without quotes. A key in a later flag
// replaces the same key in an earlier one.
func parseFilter(flags []string) (map[string]any, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	f := map[string]any{}
	for _, text := range flags {
		if strings.TrimSpace(text) == "" {
			return nil, usageError{fmt.Sprintf("--filter %q: want key=value[, key=value ...]", text)}
		}
		g, err := web.ParseFilter(text)
		if err != nil {
			// Its errors begin "filter": name the flag.
			return nil, usageError{"--" + err.Error()}
		}
		maps.Copy(f, g)
	}
	return f, nil
}

// filterText shows a filter's value as --filter reads it back: a string
// bare when it reads back as itself (node=writer), anything else as JSON
// (node="writer, step=4", step="4", step=4), so that a list of conditions
// is unambiguous.
func filterText(v any) string {
	if s, ok := v.(string); ok && s != "" && !strings.ContainsAny(s, `,"[]{}`) {
		if f, err := web.ParseFilter("k=" + s); err == nil && len(f) == 1 && f["k"] == s {
			return s
		}
	}
	return compactJSON(jsonable(v))
}
