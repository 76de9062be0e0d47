// Package instancetype knows what an EC2 instance type's name says about it.
package instancetype

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	nameRe     = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	gravitonRe = regexp.MustCompile(`^[a-z]+[0-9]+g`)
)

// Architecture returns the CPU architecture of an instance type, as image
// names spell it: arm64 for Graviton (a1, and families with a g right after
// the generation: t4g, m7g, c7gn, r8gd) and x86_64 for the rest.
func Architecture(instanceType string) (string, error) {
	if !nameRe.MatchString(instanceType) {
		return "", fmt.Errorf("must be an EC2 instance type such as t4g.small or m7i.large")
	}
	family, _, _ := strings.Cut(instanceType, ".")
	if family == "a1" || gravitonRe.MatchString(family) {
		return "arm64", nil
	}
	return "x86_64", nil
}
