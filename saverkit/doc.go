// Package saverkit holds what every ckpt.Saver implementation needs to
// behave exactly as the bbolt store does: argument validation and its
// limits, the checkpoint id source, list selectors, metadata filter
// normalisation and matching, the fixed indexes of special pending writes,
// and the write options an app attached to a context.
//
// Apps do not need this package: they use package ckpt. It is for the
// bbolt store itself, redisstore, checkpointtest and third-party savers,
// so the contract's details live in one place.
//
// Package ckpt imports saverkit, so saverkit cannot name ckpt's types: its
// functions take the fields of a ckpt.Config or ckpt.ListOptions, and
// ckpt.ErrInvalidConfig is the ErrInvalidConfig defined here.
package saverkit
