// Package einockpt is a durable checkpoint store for cloudwego/eino on a
// ckpt store: it implements eino's compose.CheckPointStore (the same
// interface adk.Runner takes), so graphs and agents that interrupt survive
// a restart of the process.
//
// Eino names a checkpoint by an id of the caller's choice and overwrites it
// at every interrupt. Here each id is a ckpt thread and every Set appends a
// checkpoint to it: Get returns the newest, the older ones stay as the
// thread's history (listed with ckpt's History or List), and ckpt's
// retention and deletion apply. Delete (the optional interface newer eino
// versions look for) removes the thread.
//
// Eino never deletes a checkpoint once a resumed run finishes, so running
// again with the same id resumes the old interrupt instead of starting
// fresh. With the DeleteOnComplete option, the run helpers of this package
// (Invoke, Stream, WatchAgent, or Complete called by hand) delete the
// thread when a run ends without a new interrupt.
package einockpt

import (
	"context"
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// Channel is the ckpt channel that holds eino's serialized checkpoint in
// every checkpoint this package writes.
const Channel = "eino"

// Metadata keys this package writes on every checkpoint. Keys returned by a
// WithMetadata function are stored too, but cannot replace these.
const (
	// MetaSource is always SourceEino.
	MetaSource = "source"
	// MetaSize is the size of eino's checkpoint in bytes.
	MetaSize = "size"
	// MetaStep counts the checkpoints the thread held before this one: 0
	// for the first interrupt of a run, 1 for the next, ...
	MetaStep = "step"
	// MetaCheckPointID is eino's checkpoint id (the thread id without the
	// WithThreadPrefix prefix).
	MetaCheckPointID = "eino_checkpoint_id"
)

// SourceEino is the value of MetaSource.
const SourceEino = "eino"

// ErrForeignThread: the thread named by a checkpoint id holds checkpoints
// this package did not write (no Channel in its newest checkpoint), so Get
// cannot return eino's bytes. Use WithThreadPrefix to keep eino's threads
// apart from others in a shared store.
var ErrForeignThread = errors.New("einockpt: thread was not written by einockpt")

// maxSetAttempts bounds the retries of a Set that lost a race with another
// Set on the same id (each retry re-reads the head to number the step).
const maxSetAttempts = 16

// CheckPointStore stores eino checkpoints in a ckpt store. It implements
// compose.CheckPointStore and adk.CheckPointStore and is safe for
// concurrent use. It does not own the ckpt store: close that yourself.
type CheckPointStore struct {
	store            *ckpt.Store
	prefix           string
	deleteOnComplete bool
	metadata         func(ctx context.Context, checkPointID string) ckpt.Metadata
}

// Option configures New.
type Option func(*CheckPointStore)

// DeleteOnComplete makes Complete (and so Invoke, Stream and WatchAgent)
// delete the thread of a run that finished without a new interrupt, so
// that reusing its id starts a fresh run instead of resuming stale state.
// Without it the history is kept, and a reused id resumes from the last
// interrupt (eino's own behaviour).
func DeleteOnComplete() Option {
	return func(s *CheckPointStore) { s.deleteOnComplete = true }
}

// WithThreadPrefix stores checkpoint id X in thread prefix+X, to keep
// eino's threads apart from other users of a shared ckpt store.
func WithThreadPrefix(prefix string) Option {
	return func(s *CheckPointStore) { s.prefix = prefix }
}

// WithMetadata adds fn's result to the metadata of every checkpoint Set
// writes. fn gets the context eino passes to Set (the run's context), so it
// can record request-scoped values such as a user or run id. The keys this
// package writes (MetaSource, MetaSize, MetaStep, MetaCheckPointID) win
// over fn's.
func WithMetadata(fn func(ctx context.Context, checkPointID string) ckpt.Metadata) Option {
	return func(s *CheckPointStore) { s.metadata = fn }
}

// New returns a CheckPointStore on store.
func New(store *ckpt.Store, opts ...Option) *CheckPointStore {
	s := &CheckPointStore{store: store}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ThreadID returns the ckpt thread that holds eino's checkpoint id, for
// reading its history through ckpt (store.History(ctx, s.ThreadID(id), ...)).
func (s *CheckPointStore) ThreadID(checkPointID string) string {
	return s.prefix + checkPointID
}

// Get returns the newest checkpoint stored under checkPointID. A missing id
// is (nil, false, nil), as eino expects; any other failure is an error
// (ckpt's sentinels, or ErrForeignThread).
func (s *CheckPointStore) Get(ctx context.Context, checkPointID string) ([]byte, bool, error) {
	snap, err := s.store.Latest(ctx, s.ThreadID(checkPointID))
	if errors.Is(err, ckpt.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("einockpt: get %q: %w", checkPointID, err)
	}
	raw, ok := snap.State[Channel]
	if !ok {
		return nil, false, fmt.Errorf("%w: get %q: checkpoint %s has no %q channel", ErrForeignThread, checkPointID, snap.CheckpointID, Channel)
	}
	var data []byte
	if err := raw.Decode(&data); err != nil {
		return nil, false, fmt.Errorf("einockpt: get %q: %w", checkPointID, err)
	}
	return data, true, nil
}

// Set appends data as the newest checkpoint of checkPointID's thread, with
// metadata (MetaSource, MetaSize, MetaStep, MetaCheckPointID and whatever
// WithMetadata adds). It is durable when it returns, unless the ckpt store
// or ckpt.WithWriteOptions on ctx asks otherwise. Identical bytes written
// twice are stored once (ckpt keeps an unchanged channel's value).
func (s *CheckPointStore) Set(ctx context.Context, checkPointID string, data []byte) error {
	thread := s.ThreadID(checkPointID)
	if data == nil {
		data = []byte{}
	}
	state := map[string]any{Channel: data}
	var extra ckpt.Metadata
	if s.metadata != nil {
		extra = s.metadata(ctx, checkPointID)
	}
	var err error
	for range maxSetAttempts {
		var parent string
		var step int64
		parent, step, err = s.head(ctx, thread)
		if err != nil {
			return fmt.Errorf("einockpt: set %q: %w", checkPointID, err)
		}
		meta := make(ckpt.Metadata, len(extra)+4)
		for k, v := range extra {
			meta[k] = v
		}
		meta[MetaSource] = SourceEino
		meta[MetaSize] = len(data)
		meta[MetaStep] = step
		meta[MetaCheckPointID] = checkPointID
		// Compare-and-set on the head, so concurrent Sets on one id number
		// their steps without gaps or duplicates.
		wo := saverkit.WriteOptionsFrom[ckpt.WriteOptions](ctx)
		wo.IfHead, wo.Parent = true, parent
		_, err = s.store.Save(ckpt.WithWriteOptions(ctx, wo), thread, state, meta)
		if !errors.Is(err, ckpt.ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("einockpt: set %q: %w", checkPointID, err)
	}
	return nil
}

// head returns the thread's newest checkpoint id ("" if none) and the step
// the next checkpoint gets.
func (s *CheckPointStore) head(ctx context.Context, thread string) (string, int64, error) {
	snap, err := s.store.Latest(ctx, thread)
	if errors.Is(err, ckpt.ErrNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	step := int64(0)
	switch v := snap.Metadata[MetaStep].(type) {
	case int64:
		step = v + 1
	case uint64:
		step = int64(v) + 1
	}
	return snap.CheckpointID, step, nil
}

// Delete removes checkPointID's thread: its checkpoints and their history.
// Deleting an id that has none is not an error. It satisfies the optional
// CheckPointDeleter interface of newer eino versions.
func (s *CheckPointStore) Delete(ctx context.Context, checkPointID string) error {
	if err := s.store.DeleteThread(ctx, s.ThreadID(checkPointID)); err != nil {
		return fmt.Errorf("einockpt: delete %q: %w", checkPointID, err)
	}
	return nil
}

// Complete tells the store that the run using checkPointID finished
// without a new interrupt. With DeleteOnComplete it deletes the thread;
// otherwise it does nothing. Invoke, Stream and WatchAgent call it; call it
// yourself when you run eino directly.
func (s *CheckPointStore) Complete(ctx context.Context, checkPointID string) error {
	if !s.deleteOnComplete {
		return nil
	}
	return s.Delete(ctx, checkPointID)
}
