package ckpt

// Exported pieces of the store's semantics for other Saver implementations
// (redisstore and third parties), so every backend encodes values and
// matches metadata filters exactly as the bbolt store does.

// EncodeValue encodes one user value (a channel value, a pending write's
// value, a metadata map) as the store does: deterministic msgpack, map keys
// sorted, json struct tags honoured. A Raw passes through unchanged. An
// error wraps ErrEncode and names what (e.g. `channel "messages"`) and the
// path inside the value that failed.
func EncodeValue(what string, v any) (Raw, error) { return encodeValue(what, v) }

// NormalizeFilter returns a ListOptions.Filter in the shapes stored metadata
// decodes to (int64, uint64, float64, map[string]any, []any, ...), ready for
// MatchMetadata. A filter that does not encode is ErrInvalidConfig.
func NormalizeFilter(filter map[string]any) (map[string]any, error) {
	return normalizeFilter(filter)
}

// MatchMetadata reports whether md contains filter (as normalized by
// NormalizeFilter): every filter key is present with a matching value,
// nested maps match as subsets, numbers compare by value.
func MatchMetadata(md Metadata, filter map[string]any) bool { return matchMetadata(md, filter) }
