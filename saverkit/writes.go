package saverkit

// Special channels of pending writes (ckpt.ChannelError and the others are
// these). Each has a fixed index, and a new write to it replaces the
// stored one; a regular write is stored under its position in the call's
// writes and the first stored value is kept.
const (
	ChannelError     = "__error__"
	ChannelScheduled = "__scheduled__"
	ChannelInterrupt = "__interrupt__"
	ChannelResume    = "__resume__"
)

// WriteIndex returns the index a pending write is stored under: the fixed
// negative index of a special channel (special is true: the write replaces
// a stored one), or pos, its position in the PutWrites call (special is
// false: a stored write under that index is kept).
func WriteIndex(channel string, pos int) (idx int, special bool) {
	switch channel {
	case ChannelError:
		return -1, true
	case ChannelScheduled:
		return -2, true
	case ChannelInterrupt:
		return -3, true
	case ChannelResume:
		return -4, true
	}
	return pos, false
}
