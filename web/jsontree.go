package web

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ckpt-go/ckpt/internal/human"
)

// jnode is one node of a value drawn as a collapsible tree. The tree is
// built in Go and drawn by the "jtree" template with <details> elements,
// so it folds without any script and every key and string is escaped by
// html/template.
type jnode struct {
	Key   string // object key or "[i]"; "" for the root
	Kind  string // object, array, string, number, bool, null, bytes
	Text  string // a scalar, as JSON text
	Items []jnode
	Count int // items in the container (Items may hold fewer)
	More  int // items not drawn (Count - len(Items))
	// CutBytes is how many bytes of a string the page left out.
	CutBytes int
	New      bool // an item this checkpoint appended to a list
	Open     bool // drawn unfolded
	IsLeaf   bool
}

// maxItems bounds the items drawn per container: a long list shows its
// start and how many more there are (the value page has them all). The
// ckpt command's diff prints as many (human.Items).
const maxItems = human.Items

// pageNodes bounds the nodes one page draws of all its values together.
// The per-container limit alone let a value of small nested items (a byte
// of msgpack each) become a node each: a 2 MB value of 2,000 lists of
// 1,000 integers made a 170 MB page in 15 s with 2.9 GB allocated, in the
// program that holds the store. 20,000 nodes are about 1.7 MB of HTML.
const pageNodes = 20_000

// maxString and pageText bound the bytes of strings a page draws: one
// string is at most maxString of them, and all of a page's together at
// most pageText. A string is one node, so the node budget did not bound
// it: the value page of a 4 MiB string was 4 MiB of HTML, and of a
// 100 MB one would have been 100 MB, built in the program that holds the
// store.
const (
	maxString = 64 << 10
	pageText  = 4 << 20
)

// budget counts the nodes a page may still draw, and the bytes of
// strings; containers met after the nodes ran out show only how many
// items they hold ("… N more"), strings past their share how many bytes
// they hold more.
type budget struct{ left, text int }

func newBudget() *budget { return &budget{left: pageNodes, text: pageText} }

// cut returns the start of x the page draws (at most maxString bytes,
// and no more than the page's text budget has left, cut between
// characters) and how many bytes it leaves out, and charges the budget.
func (b *budget) cut(x string) (string, int) {
	left := 0
	if keep := min(maxString, max(b.text, 0)); len(x) > keep {
		for keep > 0 && !utf8.RuneStart(x[keep]) {
			keep-- // cut between characters, not inside one
		}
		x, left = x[:keep], len(x)-keep
	}
	b.text -= len(x)
	return x, left
}

// buildTree turns a decoded value (as Raw.Value returns) into a jnode.
// newFrom >= 0 marks the items of a top-level list from that index on as
// appended. limit bounds the items drawn per container (0: maxItems), b
// the nodes drawn in all.
func buildTree(key string, v any, depth, newFrom, limit int, b *budget) jnode {
	if limit <= 0 {
		limit = maxItems
	}
	if x, ok := v.(map[any]any); ok {
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		v = m
	}
	b.left--
	n := jnode{Key: key, Open: depth < 2}
	switch x := v.(type) {
	case map[string]any:
		n.Kind, n.Count = "object", len(x)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == limit || b.left <= 0 {
				break
			}
			n.Items = append(n.Items, buildTree(k, x[k], depth+1, -1, limit, b))
		}
	case []any:
		n.Kind, n.Count = "array", len(x)
		start := 0
		if newFrom > 0 && len(x)-newFrom > 0 && len(x) > limit {
			// Show the end of a long list that grew: the new items are
			// what this checkpoint is about.
			start = max(0, len(x)-limit)
		}
		for i := start; i < len(x) && i-start < limit && b.left > 0; i++ {
			c := buildTree("["+strconv.Itoa(i)+"]", x[i], depth+1, -1, limit, b)
			c.New = newFrom >= 0 && i >= newFrom
			n.Items = append(n.Items, c)
		}
	case []byte:
		n.Kind, n.IsLeaf = "bytes", true
		s := base64.StdEncoding.EncodeToString(x)
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		n.Text = fmt.Sprintf("bytes(%d) %s", len(x), s)
	case string:
		n.Kind, n.IsLeaf = "string", true
		x, n.CutBytes = b.cut(x)
		n.Text = jsonText(x)
	case nil:
		n.Kind, n.IsLeaf, n.Text = "null", true, "null"
	case bool:
		n.Kind, n.IsLeaf, n.Text = "bool", true, strconv.FormatBool(x)
	case extValue:
		n.Kind, n.IsLeaf, n.Text = "bytes", true, x.String()
	case time.Time:
		n.Kind, n.IsLeaf, n.Text = "string", true, strconv.Quote(x.UTC().Format(time.RFC3339Nano))
	default:
		n.Kind, n.IsLeaf = "number", true
		n.Text = jsonText(Jsonable(x))
	}
	n.More = n.Count - len(n.Items)
	return n
}
