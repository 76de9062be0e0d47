package testtools

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of every package whose tests use Golden.
var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them")

// Golden compares got with the golden file at path, or rewrites the file
// when the tests run with -update. A difference is shown around its first
// line.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it; review the diff):\n%s", path, FirstDifference(string(want), got))
	}
}

// FirstDifference shows the lines around the first line where two texts
// differ.
func FirstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		if i < len(w) && i < len(g) && w[i] == g[i] {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "first difference at line %d:\n", i+1)
		for j := max(0, i-3); j < i+4; j++ {
			if j < len(w) {
				b.WriteString("  want " + w[j] + "\n")
			}
		}
		for j := max(0, i-3); j < i+4; j++ {
			if j < len(g) {
				b.WriteString("  got  " + g[j] + "\n")
			}
		}
		return b.String()
	}
	return ""
}
