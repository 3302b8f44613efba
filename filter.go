package ckpt

import "github.com/ckpt-go/ckpt/saverkit"

// selector is a validated ListOptions.
type selector struct {
	thread string
	ns     *string
	before []byte // exclusive upper bound on ids, nil for none
	filter map[string]any
}

// newSelector validates opts with the rules every Saver shares (saverkit).
func newSelector(opts ListOptions) (*selector, error) {
	ks, err := saverkit.NewSelector(opts.ThreadID, opts.Namespace, opts.Before, opts.Limit, opts.Filter)
	if err != nil {
		return nil, err
	}
	sel := &selector{thread: ks.ThreadID, ns: ks.Namespace, filter: ks.Filter}
	if ks.Before != nil {
		sel.before = ks.Before[:]
	}
	return sel, nil
}

// matchMetadata reports whether md contains filter (normalised by
// newSelector); the rule is saverkit's, shared with every Saver.
func matchMetadata(md, filter map[string]any) bool { return saverkit.MatchMetadata(md, filter) }
