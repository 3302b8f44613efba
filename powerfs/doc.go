// Package powerfs is a test harness: a FUSE loopback file system that
// records every mutating system call the store makes through it, and
// builds from that record the files a power cut could leave.
//
// The model is the strict one POSIX promises (and ext4 with
// data=writeback, or a disk cache without barriers, can show): a file's
// data and size are durable only once an fsync or fdatasync of that file
// returned after they were written; a directory entry (a create, rename,
// unlink or link) only once an fsync of its directory returned after it.
// Anything else may be lost, in any subset, and a lost write may be torn:
// kept in some of its 512-byte sectors and not in others.
//
// It is a module of its own (go.work joins it) so that the store never
// depends on FUSE. It builds on Linux only (the FUSE protocol as go-fuse
// speaks it there, mount(2) as root); elsewhere the package is empty.
package powerfs
