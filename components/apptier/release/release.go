// Package release builds and describes the application's releases: Linux
// executables, named by their SHA-256. It has no Pulumi dependency, so the
// sandbox builds the default application exactly as pulumi up does.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Artifact is a release of the application: a Linux executable.
type Artifact struct {
	// Path of the file, SHA256 of its bytes (hex), Size in bytes.
	Path   string
	SHA256 string
	Size   int64
}

// FileArtifact describes an executable you built yourself.
func FileArtifact(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("release: artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Artifact{}, fmt.Errorf("release: artifact %s: %w", path, err)
	}
	return Artifact{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// BuildArgs locates the Go program to build.
type BuildArgs struct {
	// ModuleDir is the Go module's root; Package the program in it (./app).
	ModuleDir, Package string
	// Arch is the hosts' architecture: arm64 or x86_64.
	Arch string
	// OutDir caches builds (default ModuleDir/.build).
	OutDir string
}

// Build compiles the program for Linux on the hosts' architecture,
// reproducibly (-trimpath, no VCS stamp, no build id, no cgo): the same
// sources and Go version give the same bytes, so a preview shows no change
// when nothing changed. Builds are cached by a hash of the sources.
func Build(a BuildArgs) (Artifact, error) {
	goarch := map[string]string{"arm64": "arm64", "x86_64": "amd64"}[a.Arch]
	if goarch == "" {
		return Artifact{}, fmt.Errorf("release: cannot build for architecture %q", a.Arch)
	}
	if a.OutDir == "" {
		a.OutDir = filepath.Join(a.ModuleDir, ".build")
	}
	key, err := sourceHash(a.ModuleDir, a.Package, goarch)
	if err != nil {
		return Artifact{}, err
	}
	out := filepath.Join(a.OutDir, fmt.Sprintf("%s-linux-%s-%s", filepath.Base(a.Package), goarch, key[:16]))
	if art, ok := cached(out); ok {
		return art, nil
	}
	if err := os.MkdirAll(a.OutDir, 0o755); err != nil {
		return Artifact{}, err
	}
	// Several processes (test binaries, a preview beside the sandbox) may
	// build the same release at once: each builds into a file of its own
	// and renames it into place, and the same sources give the same bytes.
	tmpDir, err := os.MkdirTemp(a.OutDir, ".build-")
	if err != nil {
		return Artifact{}, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, filepath.Base(out))
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", tmp, a.Package)
	cmd.Dir = a.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return Artifact{}, fmt.Errorf("release: building %s for linux/%s: %v\n%s", a.Package, goarch, err, b)
	}
	art, err := FileArtifact(tmp)
	if err != nil {
		return Artifact{}, err
	}
	// A build never changes once made: remember its checksum, so that
	// every later run (each preview, each test) skips hashing it. The
	// checksum goes first, so a reader that finds the build finds it too.
	if err := writeAtomic(out+".sha256", []byte(art.SHA256+"\n"), tmpDir); err != nil {
		return Artifact{}, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return Artifact{}, err
	}
	art.Path = out
	return art, nil
}

// writeAtomic writes a file through a temporary file in tmpDir and a rename.
func writeAtomic(path string, data []byte, tmpDir string) error {
	tmp := filepath.Join(tmpDir, filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// cached returns a build made earlier and its remembered checksum.
func cached(out string) (Artifact, bool) {
	st, err := os.Stat(out)
	if err != nil {
		return Artifact{}, false
	}
	sum, err := os.ReadFile(out + ".sha256")
	if err != nil || len(strings.TrimSpace(string(sum))) != 64 {
		art, err := FileArtifact(out)
		if err != nil {
			return Artifact{}, false
		}
		os.WriteFile(out+".sha256", []byte(art.SHA256+"\n"), 0o644)
		return art, true
	}
	return Artifact{Path: out, SHA256: strings.TrimSpace(string(sum)), Size: st.Size()}, true
}

// sourceHash covers everything the build reads from the module: go.mod,
// go.sum, and the Go and embedded files of every package of the module
// the program imports (not only its own directory: the agent is mostly
// internal/hostagent), for linux/goarch; plus the Go version and target.
// A process computes it once per program and target (the program runs
// many times in the tests, and go list costs a fraction of a second).
func sourceHash(moduleDir, pkg, goarch string) (string, error) {
	key := moduleDir + "\x00" + pkg + "\x00" + goarch
	if h, ok := sourceHashes.Load(key); ok {
		return h.(string), nil
	}
	files, err := sourceFiles(moduleDir, pkg, goarch)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s linux/%s\n", runtime.Version(), goarch)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(moduleDir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	sourceHashes.Store(key, sum)
	return sum, nil
}

var sourceHashes sync.Map

// sourceFiles lists, relative to moduleDir and sorted, go.mod, go.sum and
// the files go build reads from the module for pkg on linux/goarch.
func sourceFiles(moduleDir, pkg, goarch string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("release: listing the sources of %s: %v: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	root, err := filepath.Abs(moduleDir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		rel, err := filepath.Rel(root, line)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("release: %s is outside the module %s", line, moduleDir)
		}
		files = append(files, rel)
	}
	sort.Strings(files)
	return files, nil
}

// ModuleRoot finds the Go module's root from the working directory (Pulumi
// runs the program in the project directory; tests run in a package's).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("release: no go.mod above the working directory")
		}
		dir = parent
	}
}
