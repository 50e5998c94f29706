package ann_test

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/vecgate/vecgate/"

// TestLayering pins the engine's layers, ann → quant → vecmath: vecmath imports nothing of
// vecgate's; quant imports only vecmath, quant and internal/parallel; ann imports no SQL,
// Postgres or gateway package. Test files are not checked (they may use bench and the shared
// test kit).
func TestLayering(t *testing.T) {
	allowed := map[string]func(imp string) bool{
		"vecmath": func(string) bool { return false },
		"quant": func(imp string) bool {
			return imp == "vecmath" || imp == "quant" || strings.HasPrefix(imp, "quant/") || imp == "internal/parallel"
		},
		"ann": func(imp string) bool {
			for _, p := range []string{"vecmath", "quant", "ann", "internal/fileformat", "internal/parallel"} {
				if imp == p || strings.HasPrefix(imp, p+"/") {
					return true
				}
			}
			return false
		},
	}
	checked := 0
	for top, ok := range allowed {
		root := filepath.Join("..", top)
		err := filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || d.Name() == "testdata" {
				return err
			}
			pkg, err := build.ImportDir(dir, 0)
			if _, none := err.(*build.NoGoError); none {
				return nil
			} else if err != nil {
				return err
			}
			checked++
			for _, imp := range pkg.Imports {
				if own, found := strings.CutPrefix(imp, module); found && !ok(own) {
					t.Errorf("%s imports %s: not allowed below %s", dir, imp, top)
				}
				if strings.Contains(imp, "jackc/") || strings.Contains(imp, "pg_query") {
					t.Errorf("%s imports %s: the engine knows nothing of Postgres", dir, imp)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d packages; the walk is broken", checked)
	}
}
