package ckpt

import "fmt"

// EncodeValue encodes one user value (a channel value, a pending write's
// value, a metadata map) as the store does: deterministic msgpack, map keys
// sorted, json struct tags honoured. A Raw passes through unchanged. An
// error wraps ErrEncode and names what (e.g. `channel "messages"`) and the
// path inside the value that failed. Other Saver implementations (such as
// redisstore) use it so their stored bytes are the store's; it stays here,
// not in saverkit, because it is the store's codec.
func EncodeValue(what string, v any) (Raw, error) { return encodeValue(what, v) }

// CheckNesting is ErrCorrupt when b, a msgpack value, nests maps and lists
// deeper than the store reads (10,000 levels), and nil otherwise (bytes
// that are not msgpack included: the decoder reports those). msgpack's
// decoder recurses once per level without a limit, and recursing millions
// deep overflows the goroutine stack, which kills the process; other Saver
// implementations (such as redisstore) call it on stored bytes before
// decoding them with msgpack. It scans without recursion, and costs
// nothing for values under 10 kB. Raw.Decode and EncodeValue apply the
// same limit.
func CheckNesting(b []byte) error {
	if tooDeep(b) {
		return fmt.Errorf("%w: %v", ErrCorrupt, errTooDeep)
	}
	return nil
}
