//go:build !linux

package engine

import "os"

// fileID tells files apart, as os.SameFile does.
type fileID struct{ fi os.FileInfo }

func idOfFile(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	return fileID{fi}, err
}

func idAtPath(path string) (fileID, error) {
	fi, err := os.Stat(path)
	return fileID{fi}, err
}

func (a fileID) same(b fileID) bool { return os.SameFile(a.fi, b.fi) }
