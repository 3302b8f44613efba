package web

// The diff page's values, cut as the value page cuts them: a string of
// megabytes on both sides of a change was drawn whole (16 MB of HTML for
// a 4 MiB string changed), built in the program that holds the store.

// shownValue is one value of the diff page as a line of JSON, its strings
// cut by the page's budget; Cut is how many bytes of them were left out.
type shownValue struct {
	Text string
	Cut  int
}

// shown cuts the strings of v (a value as DiffTuples gives it: decoded
// for JSON, owned by the page, so cut in place) and writes it as JSON.
func (b *budget) shown(v any) shownValue {
	cut := 0
	v = b.cutStrings(v, &cut)
	return shownValue{Text: jsonText(v), Cut: cut}
}

func (b *budget) cutStrings(v any, cut *int) any {
	switch x := v.(type) {
	case string:
		s, left := b.cut(x)
		*cut += left
		return s
	case map[string]any:
		// In key order, as JSON prints them: the budget runs out at the
		// same key on every load of the page.
		for _, k := range sortedKeys(x) {
			x[k] = b.cutStrings(x[k], cut)
		}
	case []any:
		for i := range x {
			x[i] = b.cutStrings(x[i], cut)
		}
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
	Appended                        []shownValue
	From, To                        shownValue
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
			for _, it := range c.Appended {
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
