//go:build linux

package ckpt_test

// The calls of h146_chain_linux_test.go: what each does to a store
// (h146Do, run by the test or by its child process) and to the model
// (apply).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
)

type h146Op struct {
	Kind    string // save put putfull writes delete copy prune gc compact backup export importfile rekey flush applylog verify
	Thread  string
	Dst     string // copy's destination thread
	Tag     string
	Val     string
	Dur     int    // ckpt.Durability of a write
	Target  string // PutWrites' checkpoint id
	Task    string
	Special bool
	ID      string // a Put's own id (the old thread's)
	Policy  string // gc: keep, age, ttl
	N       int
	Path    string // backup's file, export's import store
}

const h146Year = 365 * 24 * time.Hour

// h146Do runs op on s. It returns the new checkpoint's id for a write.
func h146Do(ctx context.Context, s *ckpt.Store, op h146Op, opts ckpt.Options) (string, error) {
	wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: ckpt.Durability(op.Dur)})
	meta := ckpt.Metadata{"tag": op.Tag}
	switch op.Kind {
	case "save":
		return s.Save(wctx, op.Thread, map[string]any{"v": op.Val}, meta)
	case "put", "putfull":
		parent := ""
		if head, err := s.Latest(ctx, op.Thread); err == nil {
			parent = head.CheckpointID
		} else if !errors.Is(err, ckpt.ErrNotFound) {
			return "", err
		}
		cfg := ckpt.Config{ThreadID: op.Thread, CheckpointID: parent}
		cp := ckpt.Checkpoint{V: 4, ID: op.ID, ChannelValues: map[string]any{"v": op.Val},
			ChannelVersions: map[string]string{"v": op.Tag}}
		var got ckpt.Config
		var err error
		if op.Kind == "put" {
			got, err = s.Put(wctx, cfg, cp, meta, map[string]string{"v": op.Tag})
		} else {
			got, err = s.PutFull(wctx, cfg, cp, meta, map[string]string{"v": op.Tag},
				[]ckpt.TaskWrites{{TaskID: op.Task, Writes: []ckpt.Write{{Channel: "w", Value: op.Val[:len(op.Val)/2]}}}})
		}
		return got.CheckpointID, err
	case "writes":
		ch := "w"
		if op.Special {
			ch = ckpt.ChannelError
		}
		return "", s.PutWrites(wctx, ckpt.Config{ThreadID: op.Thread, CheckpointID: op.Target},
			[]ckpt.Write{{Channel: ch, Value: op.Val}}, op.Task, "")
	case "delete":
		return "", s.DeleteThread(ctx, op.Thread)
	case "copy":
		return "", s.CopyThread(ctx, op.Thread, op.Dst, ckpt.CopyOptions{})
	case "prune":
		return "", s.Prune(ctx, []string{op.Thread}, ckpt.PruneKeepLatest)
	case "gc":
		p := ckpt.Policy{KeepLast: op.N}
		switch op.Policy {
		case "age":
			p = ckpt.Policy{MaxAge: h146Year / 2}
		case "ttl":
			p = ckpt.Policy{ThreadTTL: h146Year / 2}
		}
		_, err := s.GC(ctx, p)
		return "", err
	case "compact":
		_, err := s.Compact(ctx, nil)
		return "", err
	case "backup":
		return "", s.BackupFile(ctx, op.Path)
	case "export":
		var buf bytes.Buffer
		if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{Threads: []string{op.Thread}}); err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
		d, err := ckpt.Open(op.Path, opts)
		if err != nil {
			return "", fmt.Errorf("import store: %w", err)
		}
		_, err = d.Import(ctx, &buf, ckpt.ImportOptions{})
		cerr := d.Close()
		if err == nil {
			// Imported: a Close that fails (a full disk, a failed
			// commit) keeps the log with the import in it, and the next
			// Open applies it.
			return "", nil
		}
		return "", errors.Join(err, cerr)
	case "importfile":
		var buf bytes.Buffer
		if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{Threads: []string{op.Thread}}); err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
		_, err := ckpt.ImportFile(ctx, op.Path, &buf, opts, ckpt.ImportOptions{})
		return "", err
	case "rekey":
		_, err := s.Rekey(ctx)
		return "", err
	case "flush":
		return "", s.Flush(ctx)
	case "applylog":
		return "", s.ApplyLog(ctx)
	case "verify":
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err == nil && !rep.OK() {
			err = fmt.Errorf("verify: %d problems: %v", len(rep.Problems), rep.Problems)
		}
		return "", err
	}
	return "", fmt.Errorf("unknown op %q", op.Kind)
}

// h146Status of a call: acknowledged, failed, or in doubt (killed in it).
type h146Status int8

const (
	h146OK h146Status = iota
	h146Err
	h146Doubt
)

// h146Backup is a backup or an import store to check at the round's end.
type h146Backup struct {
	path   string
	st     h146Status
	want   *h146Model // the model when the call began
	thread string     // an import's thread ("" for a backup)
	file   bool       // an ImportFile's new store
}

// apply records op's outcome in m (ops of a round in order); a backup or
// an export is added to r's list to check later.
func (r *h146Run) apply(op h146Op, id string, st h146Status) {
	m := r.m
	async := ckpt.Durability(op.Dur) == ckpt.Async
	switch op.Kind {
	case "save", "put", "putfull":
		c := &h146Cp{thread: op.Thread, tag: op.Tag, val: op.Val, pw: map[string]*h146PW{}, old: op.ID != ""}
		switch {
		case st == h146OK && !async:
			c.st, c.id = h146Must, id
		case st == h146OK:
			c.st, c.id = h146May, id
			m.async = append(m.async, c)
		case st == h146Doubt:
			c.st = h146May
		}
		if op.Kind == "putfull" {
			v := op.Val[:len(op.Val)/2]
			c.pw[op.Task+"/w"] = &h146PW{vals: map[string]bool{v: true}, ever: map[string]bool{v: true}, must: true}
		}
		m.add(c)
	case "writes":
		var c *h146Cp
		for _, x := range m.cps {
			if x.thread == op.Thread && x.id == op.Target && x.st != h146Never {
				c = x
			}
		}
		if c == nil || st == h146Err {
			return
		}
		key := op.Task + "/w"
		if op.Special {
			key = op.Task + "/" + ckpt.ChannelError
		}
		p := c.pw[key]
		if p == nil {
			p = &h146PW{vals: map[string]bool{}}
			c.pw[key] = p
		}
		if p.ever == nil {
			p.ever = map[string]bool{}
		}
		p.ever[op.Val] = true
		switch {
		case st == h146OK && !async && (op.Special || !p.must):
			p.vals, p.must = map[string]bool{op.Val: true}, true
		case st == h146OK && !async: // a regular write: the first stays
		case op.Special || !p.must:
			p.vals[op.Val] = true
		}
	case "delete":
		switch st {
		case h146OK:
			for _, c := range m.live(op.Thread) {
				c.st, c.deleted = h146Never, true
			}
		case h146Doubt:
			doubt(m.live(op.Thread))
		}
	case "copy":
		if st == h146Err {
			return
		}
		for _, c := range m.live(op.Thread) {
			d := c.clone()
			d.thread = op.Dst // CopyThread keeps the ids
			if st == h146Doubt {
				d.st = h146May
				for _, p := range d.pw {
					p.must = false
				}
			}
			m.add(d)
		}
	case "prune", "gc":
		var drop []*h146Cp
		for _, th := range m.threads() {
			if op.Kind == "prune" && th != op.Thread {
				continue
			}
			cs := m.live(th)
			switch {
			case op.Kind == "prune":
				drop = append(drop, cs[:len(cs)-1]...)
			case op.Policy == "keep":
				drop = append(drop, cs[:max(0, len(cs)-op.N)]...)
			case op.Policy == "age":
				for _, c := range cs[:len(cs)-1] {
					if c.old {
						drop = append(drop, c)
					}
				}
			case op.Policy == "ttl":
				if cs[len(cs)-1].old {
					drop = append(drop, cs...)
				}
			}
		}
		for _, c := range drop {
			switch st {
			case h146OK:
				c.st, c.deleted = h146Never, true
			default: // GC's batches: a failed run may have done some
				doubt([]*h146Cp{c})
			}
		}
	case "rekey":
		if st == h146OK {
			r.dropOld = true // every record is under the newest key, fsync'd
		}
	case "backup":
		if st == h146Err && r.replaced {
			// The copy is at the path, whole; only its name may not
			// survive a power cut: check it as a backup that returned nil.
			st = h146OK
		}
		r.backups = append(r.backups, &h146Backup{path: op.Path, st: st, want: r.before})
	case "export", "importfile":
		r.backups = append(r.backups, &h146Backup{path: op.Path, st: st, want: r.before, thread: op.Thread, file: op.Kind == "importfile"})
	case "applylog":
		// With NoWAL it is Flush, and its error takes the Async failures
		// (Close then reports none); a nil one vouches for nothing.
		if st != h146OK {
			m.async = nil
		}
	case "flush":
		if st != h146OK {
			m.async = nil // the failures are reported: the rest stays in doubt
		} else {
			for _, c := range m.async {
				if c.st == h146May {
					c.st = h146Must
				}
			}
			m.async = nil
		}
	}
}

// flushed: a Close that returned nil vouches for the Async writes.
func (r *h146Run) flushed() { r.apply(h146Op{Kind: "flush"}, "", h146OK) }

// h146Val is a value of n bytes that names its tag.
func h146Val(tag string, n int) string {
	return (strings.Repeat(tag+".", n/(len(tag)+1)+1))[:n]
}

// h146WriteOps writes ops where the child reads them.
func h146WriteOps(path string, ops []h146Op) error {
	data, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func h146ReadOps(path string) ([]h146Op, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ops []h146Op
	return ops, json.Unmarshal(data, &ops)
}
