package web

// The stats page (what each bucket holds, as bars) and the helpers the
// pages share to read query parameters and metadata.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// bar is one bar of a stats chart.
type bar struct {
	Label string
	Value int64
	Y, W  int
	TextY int
	Class string
}

type statsData struct {
	S       *ckpt.Stats
	AsOf    time.Time     // when S was computed
	Took    string        // how long that took, for people (tookText)
	Every   time.Duration // how long S is shown before it is computed again
	Buckets []bar
	Saved   []bar
	ChartH  int
	SavedH  int
	Keys    string // "key 7", "keys 1, 2": the keys an encrypted store is sealed under
	// DiskBytes is the file's size on disk (0: unknown), which bbolt grows
	// ahead of its pages (S.FileBytes): the figure ls and 'ckpt stats' show.
	DiskBytes int64
}

// KeyIDs names the keys of an encrypted store, as "key 7" or "keys 1, 2";
// "" for none.
func KeyIDs(ids []uint32) string {
	if len(ids) == 0 {
		return ""
	}
	t := make([]string, len(ids))
	for i, id := range ids {
		t[i] = strconv.FormatUint(uint64(id), 10)
	}
	if len(t) == 1 {
		return "key " + t[0]
	}
	return "keys " + strings.Join(t, ", ")
}

const chartW = 400

// stats shows the store's statistics with two bar charts drawn as inline
// SVG on the server. Store.Stats reads the whole file, so the figures are
// computed again only when they are older than statsMaxAge (the page says
// as of when): a script reloading the page costs one template run.
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	// The figures read the whole file, which the cache already holds to
	// 1/statsCostFactor of a core: the gate does not charge them again,
	// or the page after this one would wait nine times their computation
	// (20 s after the stats of 100,000 checkpoints). Figures computed
	// sooner, after a write action, are charged (statsCache.get).
	st, at, took, exempt, err := s.cachedStats.get(r.Context(), s.gate.now, func(ctx context.Context) (*ckpt.Stats, error) {
		return s.st(ctx).Stats(ctx)
	})
	s.gate.notCharged(exempt)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := statsData{S: st, AsOf: at, Took: tookText(took), Every: statsMaxAge(took).Round(time.Second),
		Keys: KeyIDs(st.SealedKeys)}
	if fi, err := os.Stat(s.path); err == nil {
		d.DiskBytes = fi.Size()
	}
	var bs []bar
	for _, b := range st.Buckets {
		bs = append(bs, bar{Label: b.Name, Value: b.Bytes, Class: "b"})
	}
	d.Buckets, d.ChartH = layoutBars(bs)
	saved := []bar{{Label: "stored (all parts)", Value: sumBytes(st.Buckets), Class: "b"}}
	if st.SealedUnsized == 0 { // else unknown without the keys: no bars of 0
		saved = append(saved,
			bar{Label: "saved: unchanged channels", Value: st.SharedBytes, Class: "s"},
			// Short lists' deltas can take more than the lists whole (each
			// record has its own header): nothing saved, not a negative bar.
			bar{Label: "saved: list deltas", Value: max(0, st.DeltaSavedBytes), Class: "s"})
	}
	d.Saved, d.SavedH = layoutBars(saved)
	s.render(w, http.StatusOK, "stats", "stats", d)
}

// tookText is how long the figures took, in words: rounded to the
// millisecond, a fraction of one read "computed in 0s", as if nothing had
// been read or the clock were broken.
func tookText(d time.Duration) string {
	if d < time.Millisecond {
		return "under 1 ms"
	}
	return d.Round(time.Millisecond).String()
}

func sumBytes(bs []ckpt.BucketStats) int64 {
	var n int64
	for _, b := range bs {
		n += b.Bytes
	}
	return n
}

func layoutBars(bs []bar) ([]bar, int) {
	var maxV int64 = 1
	for _, b := range bs {
		maxV = max(maxV, b.Value)
	}
	for i := range bs {
		bs[i].Y = i * 22
		bs[i].TextY = i*22 + 14
		bs[i].W = max(1, int(int64(chartW)*max(0, bs[i].Value)/maxV))
	}
	return bs, len(bs)*22 + 4
}

// ParseFilter reads a metadata filter as the thread page and `ckpt log
// --filter` take it: key=value pairs separated by commas (a comma inside
// JSON brackets or quotes is part of the value), for ckpt.ListOptions.Filter.
// A value that is JSON (3, true, "x", {"a":1}) is taken as JSON; anything
// else is a string, so node=writer works without quotes. Empty text is no
// filter (nil). Errors begin with "filter".
func ParseFilter(text string) (map[string]any, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	f := map[string]any{}
	for _, p := range splitFilter(text) {
		p = strings.TrimSpace(p)
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("filter %q: want key=value[, key=value ...]", p)
		}
		f[k] = filterValue(strings.TrimSpace(v))
	}
	nf, err := saverkit.NormalizeFilter(f)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return nf, nil
}

// splitFilter splits on commas outside JSON brackets and quotes.
func splitFilter(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
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

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func limitParam(limit, def int) string {
	if limit == def {
		return ""
	}
	return strconv.Itoa(limit)
}

// metaText shows one metadata value in a table cell.
func metaText(m ckpt.Metadata, k string) string {
	v, ok := m[k]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return jsonText(Jsonable(v))
}

// metaWord shows a metadata value in a sentence as 'ckpt diff' does: a
// missing one as "-", a string as it is, anything else as JSON.
func metaWord(v any) string {
	if v == nil {
		return "-"
	}
	if s, ok := v.(string); ok {
		return s
	}
	return jsonText(Jsonable(v))
}

func changedChannels(parent, cur map[string]string) []string {
	var out []string
	for _, ch := range sortedKeys(cur) {
		if parent[ch] != cur[ch] {
			out = append(out, ch)
		}
	}
	return out
}

func isPrefix(a, b []any) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if !equalValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

// equalValue compares two decoded values by their JSON form; decoded
// values are plain data, so this is exact enough for "was this item
// already there".
func equalValue(a, b any) bool {
	ja, err1 := json.Marshal(Jsonable(a))
	jb, err2 := json.Marshal(Jsonable(b))
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
