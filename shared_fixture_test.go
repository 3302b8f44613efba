package ckpt

import (
	"os"
	"sync"
	"testing"
)

// Fixtures built once per test binary and shared by the tests that read
// them, in place of each test building the same store.

// spec25Store returns the path of the closed store the damage specs damage
// (buildSpec25Store) and its model. It is built once and shared (the five
// damage specs each built the same file, about 6 s apiece under -race):
// callers only read it and damage copies of it (damaged25); the model is
// not changed after the build. CleanupSharedFixtures, called by TestMain,
// removes it.
func spec25Store(t *testing.T) (string, *model25) {
	t.Helper()
	f := &spec25Fixture
	f.once.Do(func() {
		dir, err := os.MkdirTemp("", "ckpt-spec25-")
		if err != nil {
			t.Fatal(err)
		}
		f.dir = dir
		path, m := buildSpec25Store(t, dir)
		f.path, f.m = path, m
	})
	if f.m == nil {
		t.Fatal("the shared spec25 store was not built (the spec that built it first says why)")
	}
	return f.path, f.m
}

var spec25Fixture struct {
	once sync.Once
	dir  string // removed by CleanupSharedFixtures
	path string
	m    *model25
}

// CleanupSharedFixtures removes the files of the fixtures the package's
// tests share; TestMain (crash_test.go) calls it after m.Run.
func CleanupSharedFixtures() {
	if spec25Fixture.dir != "" {
		_ = os.RemoveAll(spec25Fixture.dir)
	}
}
