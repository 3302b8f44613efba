//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// fileSizes returns the apparent size of the file at path and the bytes of
// disk it occupies. bbolt grows its file with truncate, so the file is
// sparse: the disk bytes are the pages actually written, which moves by
// page (4 KiB) while the apparent size moves in steps of up to 16 MiB.
func fileSizes(path string) (apparent, disk int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("stat %s: no block count on this system", path)
	}
	return fi.Size(), st.Blocks * 512, nil
}
