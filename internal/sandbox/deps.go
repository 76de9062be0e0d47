package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Requirement is a program the sandbox runs and the Debian package that
// provides it.
type Requirement struct{ Program, Package string }

// Requirements are the programs the sandbox needs.
var Requirements = []Requirement{
	{"ip", "iproute2"},
	{"haproxy", "haproxy"},
	{"keepalived", "keepalived"},
	{"nginx", "nginx-light"},
	{"curl", "curl"},
	{"arping", "iputils-arping"},
	{"setpriv", "util-linux"},
	{"flock", "util-linux"},
	{"go", "golang (or Go from go.dev)"},
}

// Packages are the Debian packages make sandbox-deps installs.
func Packages() []string {
	var out []string
	for _, r := range Requirements {
		if r.Program != "go" {
			out = append(out, r.Package)
		}
	}
	return append(out, "postgresql")
}

// Check reports every missing requirement at once, naming its package. It
// installs nothing.
func Check() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need it): run with sudo")
	}
	for _, r := range Requirements {
		if !found(r.Program) {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", r.Program, r.Package))
		}
	}
	if _, err := postgresBin(); err != nil {
		missing = append(missing, "PostgreSQL server (Debian package postgresql)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("sandbox: missing:\n  %s\nmake sandbox-deps installs the packages", strings.Join(missing, "\n  "))
	}
	return nil
}

func found(program string) bool { return path(program) != program || filepath.IsAbs(program) }

// path resolves a program to its absolute path, also in the sbin
// directories a user's PATH may lack; it returns the name if not found.
func path(program string) string {
	if filepath.IsAbs(program) {
		return program
	}
	if p, err := exec.LookPath(program); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, program)); err == nil {
			return filepath.Join(dir, program)
		}
	}
	return program
}
