package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// jsonValue decodes a stored value into something encoding/json prints.
func jsonValue(raw ckpt.Raw) (any, error) {
	v, err := raw.Value()
	return jsonable(v), err
}

// jsonable rewrites what msgpack decodes but JSON cannot hold: maps with
// non-string keys, NaN and infinities.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case ckpt.Metadata:
		return jsonable(map[string]any(x))
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
	}
	return v
}

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
