package ckpt

import "fmt"

// verifyRecordSums is the checksum part of Verify for one thread, beside
// verifyThread (which already reports a checkpoint, metadata, value or
// pending-write record whose checksum does not match, as it fails to
// decode). It adds what verifyThread cannot see: a list segment whose
// checksum does not match, also when no version refers to it, and, in a
// file of format 3 or later, any record without a checksum (a version byte
// damaged into an old version, or a record written by an older build).
func verifyRecordSums(r reader, thread string, rep *VerifyReport) {
	format, err := formatOf(r)
	if err != nil {
		return // verifyAll reports the format marker
	}
	checks := map[string]string{
		string(bucketCheckpoints): "checkpoint", string(bucketMetadata): "metadata",
		string(bucketWrites): "write", string(bucketBlobs): "value", string(bucketSegments): "value",
	}
	ts := seedOf(thread)
	var lineages uint64 // the highest lineage of a list segment's key
	for _, sub := range sealedSubBuckets {
		rep.scanned(thread, sub, r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			p := Problem{Check: checks[string(sub)], Thread: thread}
			what := recordName(sub, k, &p)
			switch {
			case format >= 3 && !isSealed(sub, v):
				p.Detail = fmt.Sprintf("%s: record has no checksum (record version %d in a format %d file)", what, v[0], format)
			case string(sub) == string(bucketSegments):
				if _, _, lin, _, err := parseSegmentKey(k); err == nil {
					lineages = max(lineages, lin)
				}
				if _, err := decodeSegment(ts, k, v); err != nil {
					p.Detail = fmt.Sprintf("%s: %v", what, err)
				}
			}
			if p.Detail != "" {
				rep.add(p)
			}
			return nil
		}))
	}
	// The bucket's sequence numbers new lineages (newLineage): below one
	// in use (a damaged bucket header), a new list that would reuse one
	// is refused.
	if seq := r.Sequence(threadPath(thread, bucketSegments)); seq < lineages {
		rep.add(Problem{Check: "value", Thread: thread, Detail: fmt.Sprintf("list segments' sequence is %d, below lineage %d in use (a damaged bucket header): a new list that would reuse one of its lineages is refused", seq, lineages)})
	}
}

// recordName describes the record keyed k in sub-bucket sub for a Problem,
// filling in its namespace and checkpoint.
func recordName(sub, k []byte, p *Problem) string {
	switch string(sub) {
	case string(bucketCheckpoints), string(bucketMetadata):
		if ns, id, err := parseCheckpointKey(k); err == nil {
			p.Namespace, p.CheckpointID = ns, idString(id)
			if string(sub) == string(bucketMetadata) {
				return "metadata record"
			}
			return "checkpoint record"
		}
	case string(bucketWrites):
		if ns, id, task, idx, err := parseFullWriteKey(k); err == nil {
			p.Namespace, p.CheckpointID = ns, idString(id)
			return fmt.Sprintf("pending write (task %q, idx %d)", task, idx)
		}
	case string(bucketBlobs):
		if ns, ch, ver, err := parseBlobKey(k); err == nil {
			p.Namespace = ns
			return fmt.Sprintf("channel %q version %q", ch, ver)
		}
	case string(bucketSegments):
		if ns, ch, lin, start, err := parseSegmentKey(k); err == nil {
			p.Namespace = ns
			return fmt.Sprintf("channel %q list segment (lineage %d, from item %d)", ch, lin, start)
		}
	}
	return fmt.Sprintf("key %x", k)
}

// unfinishedImports returns the threads of imports a run left unfinished
// (the next read-write Open deletes them).
func unfinishedImports(r reader) map[string]bool {
	threads := map[string]bool{}
	r.Buckets(importsRoot, nil, func(id []byte) error {
		r.Scan(bucketPath{bucketImports, id}, nil, nil, false, func(k, _ []byte) error {
			threads[string(k)] = true
			return nil
		})
		return nil
	})
	return threads
}
