package ckpt

// The head a write builds on, checked against the history order.

import (
	"bytes"
	"fmt"
)

// writeHead is headID for a write that builds on the head: Save's parent,
// the compare-and-set of IfHead (checkHead). The newest key of a
// namespace that a damaged byte moved out of its prefix while it stays in
// order (the last key of cp/, or one before the next namespace's keys)
// is met by no walk out of place: headID's walk back took the checkpoint
// before it for the head, a Save chained onto that one and returned nil,
// and Latest read the new checkpoint with no error, the newest one
// acknowledged before it gone from the thread's line
// (TestWriteOverAHiddenHeadIsRefused). The history order (ids/) names
// it still: the head must be the namespace's last entry there.
func writeHead(r reader, thread, ns string) ([]byte, error) {
	head, err := headID(r, thread, ns)
	if err != nil {
		return nil, err
	}
	if err := headIsLast(r, thread, ns, head); err != nil {
		return nil, fmt.Errorf("thread %q namespace %q: the newest checkpoint: %w", thread, ns, err)
	}
	return head, nil
}

// headIsLast fails with ErrCorrupt when the thread's history order names
// a checkpoint of ns after head. Cost: one seek in ids/ and a step per
// entry of other namespaces after head (none in a thread of one
// namespace). A nil head (no checkpoint of ns found) is left to the
// directory of namespaces (namespaceHidden, on the namespace's first
// write): counting ids/ for it would walk the whole history.
func headIsLast(r reader, thread, ns string, head []byte) error {
	if head == nil {
		return nil
	}
	var newer []byte
	start := append(orderKey([idLen]byte(head), ns), 0)
	if err := r.Scan(threadPath(thread, bucketOrder), nil, start, false, func(k, _ []byte) error {
		if len(k) < idLen {
			return fmt.Errorf("%w: short order key", ErrCorrupt)
		}
		if string(k[idLen:]) == ns {
			newer = bytes.Clone(k[:idLen])
			return errStop
		}
		return nil
	}); err != nil {
		return fmt.Errorf("ids/: %w", err)
	}
	if newer != nil {
		return errRecordMissing(thread, ns, [idLen]byte(newer))
	}
	return nil
}
