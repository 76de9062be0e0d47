// Package testtools lets tests use real programs (haproxy, nginx,
// keepalived, cloud-init, PostgreSQL) where they are installed.
//
// On a laptop a missing program skips the test, saying why. CI sets
// WEBSTACK_REQUIRE_TOOLS=1 (see .ci/run): there a missing program or missing
// root fails the test instead, so the real checks can never be skipped
// silently.
package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireEnv is the switch that makes real-program tests mandatory.
const RequireEnv = "WEBSTACK_REQUIRE_TOOLS"

// Required reports whether missing tools must fail tests.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// unavailable skips or fails the test, depending on Required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format+" ("+RequireEnv+"=1: required)", args...)
	}
	t.Skipf(format+" (set "+RequireEnv+"=1 to make this a failure)", args...)
}

// Need returns the path of a program, or skips/fails the test if it is not
// installed. Sbin directories are searched too. Package names the Debian
// package that provides it.
func Need(t testing.TB, program, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, program)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	unavailable(t, "%s is not installed (Debian package %s)", program, pkg)
	return ""
}

// NeedGlob returns the first file matching a glob (for versioned paths such
// as /usr/lib/postgresql/*/bin/initdb), or skips/fails the test.
func NeedGlob(t testing.TB, pattern, pkg string) string {
	t.Helper()
	matches, _ := filepath.Glob(pattern)
	if len(matches) == 0 {
		unavailable(t, "nothing matches %s (Debian package %s)", pattern, pkg)
		return ""
	}
	return matches[len(matches)-1]
}

// NeedRoot skips/fails the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "this test needs root")
	}
}

// ReportEnv names a file measurements are appended to; .ci/run prints it.
const ReportEnv = "WEBSTACK_E2E_REPORT"

// Report records a measurement: in the test log, and in the report file
// when ReportEnv names one.
func Report(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if path := os.Getenv(ReportEnv); path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", t.Name(), line)
			f.Close()
		}
	}
}

// knownGoodUnit is the smallest valid service: if systemd-analyze verify
// rejects it, the fault is the environment, not our units.
const knownGoodUnit = `[Unit]
Description=known good

[Service]
Type=oneshot
ExecStart=/bin/true
`

// SystemdAnalyze finds systemd-analyze and checks it can verify units here.
// In containers it usually can (verify loads units offline, without a
// running systemd); where it cannot even verify knownGoodUnit, the test is
// skipped with systemd-analyze's own words, also in CI, because that says
// nothing about our units.
func SystemdAnalyze(t *testing.T) string {
	t.Helper()
	bin := Need(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	unit := filepath.Join(dir, "webstack-known-good.service")
	if err := os.WriteFile(unit, []byte(knownGoodUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Skipf("systemd-analyze verify cannot check units in this environment: it rejects a known-good unit too (%v):\n%s", err, out)
	}
	return bin
}
