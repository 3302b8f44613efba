package saverkit

import "context"

type writeOptionsKey struct{}

// WithWriteOptions returns a context carrying opts. ckpt.WithWriteOptions
// calls it with a ckpt.WriteOptions; apps use that one.
func WithWriteOptions[T any](ctx context.Context, opts T) context.Context {
	return context.WithValue(ctx, writeOptionsKey{}, opts)
}

// WriteOptionsFrom returns the write options attached to ctx, or the zero
// T if none (or if they are not a T). A Saver reads the app's
// ckpt.WriteOptions with
//
//	wo := saverkit.WriteOptionsFrom[ckpt.WriteOptions](ctx)
//
// The type is a parameter because package ckpt imports this one.
func WriteOptionsFrom[T any](ctx context.Context) T {
	o, _ := ctx.Value(writeOptionsKey{}).(T)
	return o
}
