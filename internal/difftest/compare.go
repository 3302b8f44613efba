package difftest

// The comparison of the store's answer with the oracle's, allowing the
// differences docs/langgraph-differences.md lists.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// compare returns "" when ckpt's answer (got, err) agrees with the oracle.
func compare(t *testing.T, req map[string]any, got any, err error, a answer) string {
	t.Helper()
	op := req["op"].(string)
	if err != nil {
		if a.Mem.Err != nil && a.SQL.Err != nil {
			return ""
		}
		return fmt.Sprintf("%s: ckpt error %v, LangGraph ok", op, err)
	}
	if a.Mem.Err != nil || a.SQL.Err != nil {
		return fmt.Sprintf("%s: ckpt ok, LangGraph mem err %v sql err %v", op, ptr(a.Mem.Err), ptr(a.SQL.Err))
	}
	g := jsonValue(t, got)
	mem, sql := decodeOK(t, a.Mem), decodeOK(t, a.SQL)
	switch op {
	case "list":
		// SqliteSaver orders the whole listing by id; MemorySaver thread by
		// thread and namespace by namespace (and its limit counts per
		// namespace), so the order is SqliteSaver's. Pending writes are
		// MemorySaver's (sorted by task path, task id, idx; SqliteSaver
		// leaves them in table order and ignores a special write sent
		// with regular ones): compared by getTuple.
		// Checkpoints of one id in several threads or namespaces (as
		// CopyThread makes) have no order in SqliteSaver: compared as a
		// set, and with a limit that cuts such a group only by id.
		cg, sg := stripWrites(g), stripWrites(sql)
		if !slices.Equal(ids(cg), ids(sg)) {
			return fmt.Sprintf("list: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
		}
		if req["limit"] != 0 {
			// The limit may cut a group of one id: its last group is
			// compared by id only.
			cg, sg = dropLastGroup(cg), dropLastGroup(sg)
		}
		{
			sortTies(cg)
			sortTies(sg)
			if !reflect.DeepEqual(cg, sg) {
				return fmt.Sprintf("list: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
			}
		}
		// MemorySaver matches filter values with ===, so a list or map
		// in a filter matches nothing there.
		if req["limit"] == 0 && scalarFilter(req["filter"]) && !sameSet(stripWrites(g), stripWrites(mem)) {
			return fmt.Sprintf("list: ckpt\n%s\nMemorySaver\n%s", js(g), js(mem))
		}
	case "getTuple":
		if !reflect.DeepEqual(g, mem) {
			return fmt.Sprintf("getTuple: ckpt\n%s\nMemorySaver\n%s", js(g), js(mem))
		}
		if !reflect.DeepEqual(stripWrites(g), stripWrites(sql)) {
			return fmt.Sprintf("getTuple: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
		}
	default:
		if !reflect.DeepEqual(g, mem) || !reflect.DeepEqual(g, sql) {
			return fmt.Sprintf("%s: ckpt %s, MemorySaver %s, SqliteSaver %s", op, js(g), js(mem), js(sql))
		}
	}
	return ""
}

func ptr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

func stripWrites(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripWrites(e)
		}
		return out
	case map[string]any:
		m := maps.Clone(x)
		delete(m, "pending_writes")
		return m
	}
	return v
}

func sameSet(a, b any) bool {
	as, _ := a.([]any)
	bs, _ := b.([]any)
	if len(as) != len(bs) {
		return false
	}
	key := func(v any) string { return js(v) }
	ka, kb := make([]string, len(as)), make([]string, len(bs))
	for i := range as {
		ka[i], kb[i] = key(as[i]), key(bs[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

func scalarFilter(f any) bool {
	m, _ := f.(map[string]any)
	for _, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func ids(l any) []string {
	var out []string
	for _, e := range l.([]any) {
		out = append(out, e.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string))
	}
	return out
}

func dropLastGroup(l any) any {
	xs := l.([]any)
	id := ids(l)
	n := len(xs)
	for n > 0 && id[n-1] == id[len(id)-1] {
		n--
	}
	return xs[:n]
}

// sortTies orders tuples of one id by their JSON, leaving the rest.
func sortTies(l any) {
	xs := l.([]any)
	slices.SortStableFunc(xs, func(a, b any) int {
		ia := a.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string)
		ib := b.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string)
		if ia != ib {
			return strings.Compare(ib, ia)
		}
		return strings.Compare(js(a), js(b))
	})
}
