package release

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The build's cache key covers the packages of the module the program
// imports, not only its own directory: a change in internal/hostagent must
// rebuild the agent.
func TestSourceFilesFollowTheModulesImports(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("go.sum", "")
	write("cmd/main.go", "package main\n\nimport \"example.com/m/lib\"\n\nfunc main() { lib.Hello() }\n")
	write("lib/lib.go", "package lib\n\nimport \"fmt\"\n\nfunc Hello() { fmt.Println(\"hello\") }\n")
	write("lib/lib_test.go", "package lib\n")
	write("lib/lib_windows.go", "package lib\n")
	write("unused/unused.go", "package unused\n")

	files, err := sourceFiles(dir, "./cmd", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cmd/main.go", "go.mod", "go.sum", "lib/lib.go"}
	if !slices.Equal(files, want) {
		t.Errorf("sources %v, want %v (the imported package's Go files for linux, no tests, nothing unused, nothing of the standard library)", files, want)
	}
	// A relative module directory works too (the tests pass "..").
	t.Chdir(filepath.Join(dir, "lib"))
	if rel, err := sourceFiles("..", "./cmd", "arm64"); err != nil || !slices.Equal(rel, want) {
		t.Errorf("from a relative directory: %v, %v", rel, err)
	}
}
