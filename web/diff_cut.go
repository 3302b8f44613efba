package web

// The diff page's values, cut as the value page cuts them: a string of
// megabytes on both sides of a change was drawn whole (16 MB of HTML for
// a 4 MiB string changed), built in the program that holds the store.

// shownValue is one value of the diff page as a line of JSON, its strings
// cut by the page's budget and its lists and maps to their first items:
// Cut is how many bytes of strings were left out, More how many items.
type shownValue struct {
	Text string
	Cut  int
	More int
}

// shown cuts v (a value as DiffTuples gives it: decoded for JSON, owned
// by the page, so cut in place) and writes it as JSON.
func (b *budget) shown(v any) shownValue {
	var sv shownValue
	v = b.cutValue(v, &sv)
	sv.Text = jsonText(v)
	return sv
}

// cutValue cuts v's strings as the value page cuts them, and its lists
// and maps to their first maxItems items while the page's node budget
// lasts: a list of 100,000 small items was one line of megabytes (each
// item a few bytes, no string long enough to cut), and an appended one
// as many lines.
func (b *budget) cutValue(v any, sv *shownValue) any {
	b.left--
	switch x := v.(type) {
	case string:
		s, left := b.cut(x)
		sv.Cut += left
		return s
	case map[string]any:
		// In key order, as JSON prints them: the budget runs out at the
		// same key on every load of the page.
		for i, k := range sortedKeys(x) {
			if i >= maxItems || b.left <= 0 {
				delete(x, k)
				sv.More++
				continue
			}
			x[k] = b.cutValue(x[k], sv)
		}
	case []any:
		keep := min(len(x), maxItems)
		for i := range keep {
			if b.left <= 0 {
				keep = i
				break
			}
			x[i] = b.cutValue(x[i], sv)
		}
		sv.More += len(x) - keep
		return x[:keep]
	}
	return v
}

// diffLine is a channel added or removed, or a metadata key's change.
type diffLine struct {
	Op, Key  string
	From, To shownValue
}

// diffChange is a ChannelChange with its values cut.
type diffChange struct {
	Channel, FromVersion, ToVersion string
	// Appended are the first of the items appended (AppendedCount in
	// all); AppendedMore of them are not drawn.
	Appended                    []shownValue
	AppendedCount, AppendedMore int
	From, To                    shownValue
}

// cutDiff draws d's values for the page, one text budget for them all.
func cutDiff(d *Diff, dd *diffData) {
	b := newBudget()
	for _, k := range sortedKeys(d.Added) {
		dd.Added = append(dd.Added, diffLine{Op: "add", Key: k, To: b.shown(d.Added[k])})
	}
	for _, k := range sortedKeys(d.Removed) {
		dd.Removed = append(dd.Removed, diffLine{Op: "del", Key: k, From: b.shown(d.Removed[k])})
	}
	for _, c := range d.Changed {
		v := diffChange{Channel: c.Channel, FromVersion: c.FromVersion, ToVersion: c.ToVersion}
		if c.Appended != nil {
			v.AppendedCount = len(c.Appended)
			for i, it := range c.Appended {
				if i == maxItems || b.left <= 0 {
					v.AppendedMore = len(c.Appended) - i
					break
				}
				v.Appended = append(v.Appended, b.shown(it))
			}
		} else {
			v.From, v.To = b.shown(c.From), b.shown(c.To)
		}
		dd.Changed = append(dd.Changed, v)
	}
	for _, k := range sortedKeys(d.MetadataAdded) {
		dd.Metadata = append(dd.Metadata, diffLine{Op: "add", Key: k, To: b.shown(d.MetadataAdded[k])})
	}
	for _, k := range sortedKeys(d.MetadataRemoved) {
		dd.Metadata = append(dd.Metadata, diffLine{Op: "del", Key: k, From: b.shown(d.MetadataRemoved[k])})
	}
	for _, k := range sortedKeys(d.MetadataChanged) {
		c := d.MetadataChanged[k]
		dd.Metadata = append(dd.Metadata, diffLine{Op: "chg", Key: k, From: b.shown(c.From), To: b.shown(c.To)})
	}
}
