package stacks

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// elfMachines are the ELF machines of the architectures instancetype
// names.
var elfMachines = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "x86_64": elf.EM_X86_64}

// CheckArtifact says what is wrong with app.artifact ("" if nothing): it
// must be a file inside the project directory (dir; the program runs
// there), and a Linux ELF executable for arch, the application servers'
// CPU architecture. A text file, an empty file, a private key or a binary
// for another architecture would be uploaded and fail on every host.
func CheckArtifact(dir, path, arch string) string {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, path)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "must be the path of an existing executable file (relative to the project directory)"
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Sprintf("the project directory %s cannot be resolved: %v", dir, err)
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Sprintf("leads out of the project directory (to %s): the file uploaded must be one the stack's reviewers see; copy the executable into the project (e.g. bin/) and name it relative to it", real)
	}
	st, err := os.Stat(real)
	if err != nil || !st.Mode().IsRegular() {
		return "must be the path of an existing executable file (relative to the project directory)"
	}
	f, err := elf.Open(real)
	if err != nil {
		return fmt.Sprintf("is not an ELF executable (%d bytes): the application servers run Linux on %s and need a Linux executable built for it (GOOS=linux GOARCH=%s)", st.Size(), arch, goArch(arch))
	}
	defer f.Close()
	switch {
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Sprintf("is an ELF %s, not an executable: build a Linux executable for %s", f.Type, arch)
	case f.Machine != elfMachines[arch]:
		return fmt.Sprintf("is an executable for %s, but the application servers (app.instanceType) are %s: build it with GOOS=linux GOARCH=%s", f.Machine, arch, goArch(arch))
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Sprintf("is an executable for %s, not Linux", f.OSABI)
	}
	return ""
}

func goArch(arch string) string {
	if arch == "x86_64" {
		return "amd64"
	}
	return arch
}
