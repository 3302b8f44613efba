package saverkit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is ckpt.ErrInvalidConfig: a config or argument is
// malformed. It is defined here so the checks below return it without
// importing package ckpt; test for it with errors.Is against either name.
var ErrInvalidConfig = errors.New("ckpt: invalid config")

// Limits on names, in bytes. They keep every key built from a name well
// inside what bbolt and Redis accept (and inside a 16-bit length prefix).
const (
	// MaxThreadIDLen is the longest thread id accepted.
	MaxThreadIDLen = 1024
	// MaxNamespaceLen is the longest checkpoint namespace accepted.
	MaxNamespaceLen = 1024
	// MaxNameLen is the longest channel name, task id or version accepted.
	MaxNameLen = 1024
)

// CheckName returns ErrInvalidConfig if s is longer than max bytes; what
// names the argument in the message (e.g. "channel name").
func CheckName(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrInvalidConfig, what, len(s), max)
	}
	return nil
}

// CheckThread returns ErrInvalidConfig for an empty or too long thread id.
func CheckThread(threadID string) error {
	if threadID == "" {
		return fmt.Errorf("%w: thread id is empty", ErrInvalidConfig)
	}
	return CheckName("thread id", threadID, MaxThreadIDLen)
}

// CheckConfig checks the thread and namespace of a ckpt.Config, as every
// Saver method taking a Config does before anything else.
func CheckConfig(threadID, ns string) error {
	if err := CheckThread(threadID); err != nil {
		return err
	}
	return CheckName("checkpoint namespace", ns, MaxNamespaceLen)
}

// CheckChannel checks a channel name and its version, as Put does for
// every entry of newVersions and of the checkpoint's ChannelVersions.
func CheckChannel(channel, version string) error {
	if err := CheckName("channel name", channel, MaxNameLen); err != nil {
		return err
	}
	if len(version) <= MaxNameLen {
		return nil // no description to build: Put checks every channel
	}
	return CheckName(fmt.Sprintf("version of channel %q", channel), version, MaxNameLen)
}

// CheckVersion checks one entry of a Put's newVersions against the
// checkpoint's ChannelVersions: a channel both name must have the same
// version there. LangGraph's new_versions are the changed entries of
// channel_versions, so they always agree; a Put where they did not would
// store the value under one version while the checkpoint names another,
// which no read could resolve. A channel ChannelVersions does not name
// is not part of the checkpoint and is not checked.
func CheckVersion(channel, newVersion string, channelVersions map[string]string) error {
	if v, ok := channelVersions[channel]; ok && v != newVersion {
		return fmt.Errorf("%w: channel %q has version %q in newVersions but %q in the checkpoint's ChannelVersions (newVersions are the changed entries of ChannelVersions: they must agree)",
			ErrInvalidConfig, channel, newVersion, v)
	}
	return nil
}

// CheckParent returns ErrInvalidConfig when a Put names the checkpoint's
// own id as its parent (both in canonical form): a checkpoint that is its
// own ancestor has no history to walk. Only a given id can be its parent
// (a Put of a stored checkpoint again), since the parent must exist.
func CheckParent(id, parent string) error {
	if id == parent {
		return fmt.Errorf("%w: checkpoint %s names itself as its parent", ErrInvalidConfig, id)
	}
	return nil
}

// The range of a checkpoint's TS: it is stored as nanoseconds since 1970
// in an int64.
var (
	minTS = time.Unix(0, math.MinInt64)
	maxTS = time.Unix(0, math.MaxInt64)
)

// CheckTS returns ErrInvalidConfig for a checkpoint TS that nanoseconds
// since 1970 in an int64 cannot hold (before 1677-09-21 or after
// 2262-04-11): time.UnixNano wraps there, and such a Put was acknowledged
// and read back as another time (the year 3000 as 1830).
func CheckTS(ts time.Time) error {
	if ts.Before(minTS) || ts.After(maxTS) {
		return fmt.Errorf("%w: checkpoint TS %s is outside the range stored (nanoseconds since 1970 in an int64: %s to %s)",
			ErrInvalidConfig, ts.UTC().Format(time.RFC3339Nano), minTS.UTC().Format(time.RFC3339Nano), maxTS.UTC().Format(time.RFC3339Nano))
	}
	return nil
}
