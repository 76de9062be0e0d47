package appconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/testtools"
)

// unitSet writes the application's units, with every path they reference
// inside dir (the executables as real executable files), and returns the
// unit files.
func unitSet(t *testing.T, dir string) []string {
	t.Helper()
	must := mustRender(t)
	mkdir := func(p string) string {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin, etc, units := mkdir(filepath.Join(dir, "bin")), mkdir(filepath.Join(dir, "etc")), mkdir(filepath.Join(dir, "units"))
	write := func(path, content string, mode os.FileMode) string {
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	app := write(filepath.Join(bin, "webstack-app"), "#!/bin/sh\nexit 0\n", 0o755)
	script := write(filepath.Join(bin, "fetch-db-secret"), SecretsScript(), 0o755)
	envFile := write(filepath.Join(etc, "app.env"),
		must(EnvFile(map[string]string{"WEBSTACK_LISTEN": ":8080", "WEBSTACK_HOST_NAME": "app-1"})), 0o644)
	arnFile := write(filepath.Join(etc, "app-secret.env"),
		must(EnvFile(map[string]string{"WEBSTACK_DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"})), 0o600)

	// The recommended layout (secret under /run) ...
	fetch := SecretsFetch{Unit: "webstack-app-secrets", SecretARNEnvFile: arnFile,
		Output: "/run/webstack-app-secrets/db.json", Script: script}
	svc := Service{Name: "webstack-app", ExecPath: app, User: "webstack-app", EnvFile: envFile,
		Credential: fetch.Output, SecretsUnit: fetch.Unit, ListenPort: 8080}
	// ... and the other branches: a secret in a directory on disk, port 80.
	fetchEtc := fetch
	fetchEtc.Unit, fetchEtc.Output = "webstack-app-secrets-etc", filepath.Join(mkdir(filepath.Join(etc, "secret")), "db.json")
	svc80 := svc
	svc80.Name, svc80.ListenPort, svc80.SecretsUnit, svc80.Credential = "webstack-app80", 80, fetchEtc.Unit, fetchEtc.Output

	return []string{
		write(filepath.Join(units, "webstack-app.service"), must(Unit(svc)), 0o644),
		write(filepath.Join(units, "webstack-app-secrets.service"), must(SecretsUnit(fetch)), 0o644),
		write(filepath.Join(units, "webstack-app80.service"), must(Unit(svc80)), 0o644),
		write(filepath.Join(units, "webstack-app-secrets-etc.service"), must(SecretsUnit(fetchEtc)), 0o644),
	}
}

// TestSystemdAnalyzeVerify: systemd itself accepts the rendered units
// without a single warning (unknown keys, bad values, missing executables
// or dependencies).
func TestSystemdAnalyzeVerify(t *testing.T) {
	bin := testtools.SystemdAnalyze(t)
	files := unitSet(t, t.TempDir())
	out, err := exec.Command(bin, append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdAnalyzeVerifyCatchesMistakes makes sure the check above is not
// vacuous: a unit with an unknown key, or a missing executable, is flagged.
func TestSystemdAnalyzeVerifyCatchesMistakes(t *testing.T) {
	bin := testtools.SystemdAnalyze(t)
	dir := t.TempDir()
	files := unitSet(t, dir)
	unit, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(unit), "UMask=0077\n", "UMask=0077\nProtectEverything=yes\n", 1)
	if err := os.WriteFile(files[0], []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "verify", "--man=no", files[0], files[1]).CombinedOutput()
	if !strings.Contains(string(out), "ProtectEverything") {
		t.Errorf("an unknown key went unnoticed:\n%s", out)
	}
	if err := os.Remove(filepath.Join(dir, "bin", "webstack-app")); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "verify", "--man=no", files[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("the secrets unit alone failed: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "verify", "--man=no", files[0], files[1]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not executable") {
		t.Errorf("a missing ExecStart binary went unnoticed (%v):\n%s", err, out)
	}
}

var exposureRe = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)

// TestSystemdAnalyzeSecurity reports systemd's exposure score of each unit
// (0 best, 10 worst) and keeps it from regressing.
func TestSystemdAnalyzeSecurity(t *testing.T) {
	bin := testtools.SystemdAnalyze(t)
	files := unitSet(t, t.TempDir())
	for _, tc := range []struct {
		file string
		max  float64
	}{
		{files[0], 2.0}, // the application: "OK"
		{files[2], 2.0}, // the application with CAP_NET_BIND_SERVICE
		{files[1], 5.0}, // root running the aws CLI, without capabilities
	} {
		out, err := exec.Command(bin, "security", "--offline=yes", "--no-pager", tc.file).CombinedOutput()
		m := exposureRe.FindStringSubmatch(string(out))
		if err != nil || m == nil {
			t.Fatalf("no exposure level for %s (%v):\n%s", tc.file, err, out)
		}
		level, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("exposure of %s: %.1f (at most %.1f)", m[1], level, tc.max)
		if level > tc.max {
			t.Errorf("%s: exposure %.1f is above %.1f:\n%s", m[1], level, tc.max, out)
		}
	}
}
