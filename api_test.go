package ckpt_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// exportedNames returns the exported top-level names of the package in the
// current directory (functions, types, constants, variables and methods as
// Type.Method), as go doc lists them, leaving out test files.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil {
					typ := d.Recv.List[0].Type
					if s, ok := typ.(*ast.StarExpr); ok {
						typ = s.X
					}
					name = typ.(*ast.Ident).Name + "." + name
				}
				names[name] = true
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names
}

// The root package shows what an app uses; what only a Saver implementer
// needs lives in saverkit, and tuning constants are unexported.
func TestRootPackageExportsNoImplementerHelpers(t *testing.T) {
	t.Parallel()
	names := exportedNames(t)
	for _, name := range []string{
		"NormalizeFilter", "MatchMetadata", "WriteOptionsFrom", // saverkit
		"GCTxKeys", "MaxProblems", // internal limits
	} {
		if names[name] {
			t.Errorf("package ckpt exports %s, which no app needs", name)
		}
	}
	// The names apps use stay.
	for _, name := range []string{
		"Open", "Options", "Store", "Config", "Checkpoint", "Tuple", "Metadata", "Write",
		"PendingWrite", "ListOptions", "WriteOptions", "WithWriteOptions", "ErrInvalidConfig",
		"MaxThreadIDLen", "ChannelError", "Raw.EncodeMsgpack",
	} {
		if !names[name] {
			t.Errorf("package ckpt no longer exports %s", name)
		}
	}
}
