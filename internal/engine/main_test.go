package engine

import (
	"os"
	"testing"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// TestMain removes the children's binary testchild may have built.
func TestMain(m *testing.M) {
	code := m.Run()
	testchild.Cleanup()
	os.Exit(code)
}
