package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// hiddenListReads are the reads that list thread among others or list
// every namespace of it (or namespace ns of every thread), each returning its error (nil: it ended without
// one). before is an id of thread newer than the hidden namespace's and
// older than every checkpoint of thrB (goneFile writes thrA first), so
// that a List of every thread bounded by it finds thread's root
// namespace first.
func hiddenListReads(s *Store, thread, ns, before string) map[string]func() error {
	ctx := context.Background()
	list := func(opts ListOptions) func() error {
		return func() error {
			for _, err := range s.List(ctx, opts) {
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	return map[string]func() error{
		"List(thread)":                  list(ListOptions{ThreadID: thread}),
		"List(thread, limit 1)":         list(ListOptions{ThreadID: thread, Limit: 1}),
		"List(thread, before)":          list(ListOptions{ThreadID: thread, Before: before}),
		"List(thread, filter)":          list(ListOptions{ThreadID: thread, Filter: map[string]any{"step": 0}}),
		"List(thread, filter no match)": list(ListOptions{ThreadID: thread, Filter: map[string]any{"step": 99}}),
		"List(all)":                     list(ListOptions{}),
		"List(all, before, limit 1)":    list(ListOptions{Before: before, Limit: 1}),
		"List(all, filter)":             list(ListOptions{Filter: map[string]any{"step": 0}}),
		"List(all, its namespace)":      list(ListOptions{Namespace: NS(ns)}),
		"Threads": func() error {
			for _, err := range s.Threads(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"Thread": func() error { _, err := s.Thread(ctx, thread); return err },
		"Export(all)": func() error {
			_, err := s.Export(ctx, io.Discard, ExportOptions{})
			return err
		},
	}
}

// TestListFindsANamespaceHiddenWhole: a namespace whose cp/ and md/ keys
// (and its history order: "whole"; and its global index entries too:
// "dropped") damage hides, in a thread whose other namespace is found, was
// missing from a List of the thread or of every thread, and from Threads,
// with no error: the directory lists it, and only reads of that namespace
// looked there. Every List shape that finds the thread now says ErrCorrupt
// naming thread and namespace, read-only and read-write.
func TestListFindsANamespaceHiddenWhole(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"whole", "dropped", "flipped"} {
		for _, ns := range []string{"", "sub"} {
			if how == "flipped" && ns == "" {
				continue
			}
			t.Run(fmt.Sprintf("%s/%q", how, ns), func(t *testing.T) {
				t.Parallel()
				path, ids := goneFile(t)
				hideNamespace(t, path, "thrA", ns, how)
				// The newest of thrA's other namespace: every checkpoint of
				// thrA is older than it but that one, and thrB's newer.
				before := ids["sub"][len(ids["sub"])-1]
				if ns == "sub" {
					before = ids[""][len(ids[""])-1]
				}
				for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
					s, err := Open(path, opts)
					if err != nil {
						t.Fatal(err)
					}
					for name, read := range hiddenListReads(s, "thrA", ns, before) {
						err := read()
						want := fmt.Sprintf("thread %q namespace %q", "thrA", ns)
						if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
							t.Errorf("read-only %v: %s: %v, want ErrCorrupt naming %s", opts.ReadOnly, name, err, want)
						}
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// TestFullListFindsAThreadLeftOutOfTheIndex: a thread none of whose
// checkpoints is left in the global index (its entries deleted, as damage
// to the index's pages would hide them) was missing from a List of every
// thread walked to its end, with no error: the page checks look only at
// the threads a page met. A List of every thread that walks the whole
// index (no Before, the walk reaching the index's end, with or without a
// filter or a namespace) now says ErrCorrupt naming the thread.
func TestFullListFindsAThreadLeftOutOfTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _ := goneFile(t)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketIndex)
		var dead [][]byte
		idx.ForEach(func(k, _ []byte) error {
			if _, th, _, err := parseIndexKey(k); err == nil && th == "thrA" {
				dead = append(dead, bytes.Clone(k))
			}
			return nil
		})
		if len(dead) != 5 {
			return fmt.Errorf("thrA has %d index entries, want 5", len(dead))
		}
		for _, k := range dead {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, lo := range []ListOptions{{}, {Filter: map[string]any{"step": 1}}, {Namespace: NS("sub")}, {Limit: 100}} {
			var err error
			n := 0
			for _, err = range s.List(ctx, lo) {
				if err != nil {
					break
				}
				n++
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"thrA"`) {
				t.Errorf("read-only %v: List %+v: %d tuples, %v; want ErrCorrupt naming thrA", opts.ReadOnly, lo, n, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkVerifyNames(t, path, "index", "thrA")
}
