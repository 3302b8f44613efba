package engine

// The proof's record (wal.go's header: version 4's, and version 5's
// padded one with its second copy a block on): how it is encoded and
// what its body may hold. The commit loop writes proofs (proof.go's
// vouch, Log.AppendProof); the scan skips them (scanLog).

// appendProof encodes a proof that the log was durable up to gen (lag 0),
// chained to seed, with a body of n bytes (n >= 1): its count of changes,
// 0, then zeros (a padded proof, version 5: Log.AppendProof). It returns
// the proof's crc, the next record's seed.
func appendProof(b []byte, id uint64, seed uint32, gen uint64, n int) ([]byte, uint32) {
	start := len(b)
	b = append(b, make([]byte, recHeader+align8(n))...)
	return b, sealRecord(b[start:], n, id, seed, genField(gen, gen))
}

// proofBody tells whether a proof's body is one: no changes (count 0),
// and in version 5 on, zeros after it (padding to the next block).
func proofBody(body []byte, version uint32) bool {
	if len(body) == 0 || body[0] != 0 {
		return false
	}
	if version < logVersion {
		return len(body) == 1
	}
	for _, c := range body[1:] {
		if c != 0 {
			return false
		}
	}
	return true
}
