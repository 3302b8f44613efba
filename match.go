package ckpt

// EncodeValue encodes one user value (a channel value, a pending write's
// value, a metadata map) as the store does: deterministic msgpack, map keys
// sorted, json struct tags honoured. A Raw passes through unchanged. An
// error wraps ErrEncode and names what (e.g. `channel "messages"`) and the
// path inside the value that failed. Other Saver implementations (such as
// redisstore) use it so their stored bytes are the store's; it stays here,
// not in saverkit, because it is the store's codec.
func EncodeValue(what string, v any) (Raw, error) { return encodeValue(what, v) }
