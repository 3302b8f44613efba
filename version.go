package ckpt

// FormatVersion is the on-disk format version this build writes (it also
// reads older ones, upgrading them in place on the first writable Open). A
// file written with a newer version fails to open with ErrFormatVersion.
const FormatVersion = int(formatVersion)
