package appconf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/testtools"
)

var exampleService = Service{
	Name:        "webstack-app",
	ExecPath:    "/opt/webstack/app/current/webstack-app",
	User:        "webstack-app",
	EnvFile:     "/etc/webstack/app.env",
	Credential:  "/run/webstack-app-secrets/db.json",
	SecretsUnit: "webstack-app-secrets",
	ListenPort:  8080,
}

var exampleFetch = SecretsFetch{
	Unit:             "webstack-app-secrets",
	SecretARNEnvFile: "/etc/webstack/app-secret.env",
	Output:           "/run/webstack-app-secrets/db.json",
	Script:           "/usr/local/libexec/webstack/fetch-db-secret",
}

// mustRender returns a function that unwraps a render result, failing the
// test on an error: must(Unit(s)).
func mustRender(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", name), got)
}

func TestGolden(t *testing.T) {
	port80 := exampleService
	port80.ListenPort = 80
	etc := exampleFetch
	etc.Output = "/etc/webstack/db.json"

	for name, render := range map[string]func() (string, error){
		"webstack-app.service":             func() (string, error) { return Unit(exampleService) },
		"webstack-app-port80.service":      func() (string, error) { return Unit(port80) },
		"webstack-app-secrets.service":     func() (string, error) { return SecretsUnit(exampleFetch) },
		"webstack-app-secrets-etc.service": func() (string, error) { return SecretsUnit(etc) },
		"fetch-db-secret":                  func() (string, error) { return SecretsScript(), nil },
		"app.env": func() (string, error) {
			return EnvFile(map[string]string{"WEBSTACK_LISTEN": ":8080", "WEBSTACK_HOST_NAME": "app-1.foobar.internal"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			golden(t, name, mustRender(t)(render()))
		})
	}
}

func TestUnitContent(t *testing.T) {
	must := mustRender(t)
	unit := must(Unit(exampleService))
	for _, want := range []string{
		"Requires=webstack-app-secrets.service\n",
		"After=network-online.target webstack-app-secrets.service\n",
		"LoadCredential=db:/run/webstack-app-secrets/db.json\n",
		"Environment=WEBSTACK_DB_SECRET_FILE=%d/db\n",
		"CapabilityBoundingSet=\n",
		"AmbientCapabilities=\n",
		"Restart=on-failure\n", "RestartSec=1\n", "KillSignal=SIGTERM\n", "UMask=0077\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	port80 := exampleService
	port80.ListenPort = 80
	unit = must(Unit(port80))
	for _, want := range []string{"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("port 80 unit lacks %q", want)
		}
	}
}

func TestSecretsUnitOutputDirectory(t *testing.T) {
	must := mustRender(t)
	unit := must(SecretsUnit(exampleFetch))
	for _, want := range []string{
		"RuntimeDirectory=webstack-app-secrets\n", "RuntimeDirectoryMode=0700\n", "RuntimeDirectoryPreserve=yes\n",
		"ExecStart=/usr/local/libexec/webstack/fetch-db-secret /run/webstack-app-secrets/db.json\n",
		"Type=oneshot\n", "RemainAfterExit=no\n", "UMask=0077\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(unit, "ReadWritePaths") || strings.Contains(unit, "User=") {
		t.Error("a /run output needs no ReadWritePaths, and the unit runs as root")
	}
	etc := exampleFetch
	etc.Output = "/etc/webstack/db.json"
	unit = must(SecretsUnit(etc))
	if !strings.Contains(unit, "ReadWritePaths=/etc/webstack\n") || strings.Contains(unit, "RuntimeDirectory") {
		t.Errorf("an /etc output should be a ReadWritePaths:\n%s", unit)
	}
}

func TestUnitValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Service)
		want   string
	}{
		{"no name", func(s *Service) { s.Name = "" }, "Name is empty"},
		{"suffix", func(s *Service) { s.Name = "webstack-app.service" }, "without .service"},
		{"space in name", func(s *Service) { s.Name = "web stack" }, "not a valid unit name"},
		{"template", func(s *Service) { s.Name = "app@1" }, "not a valid unit name"},
		{"no secrets unit", func(s *Service) { s.SecretsUnit = "" }, "SecretsUnit is empty"},
		{"secrets unit is itself", func(s *Service) { s.SecretsUnit = s.Name }, "SecretsUnit must differ"},
		{"relative", func(s *Service) { s.ExecPath = "webstack-app" }, "ExecPath"},
		{"space in path", func(s *Service) { s.ExecPath = "/opt/web stack/app" }, "ExecPath"},
		{"specifier in path", func(s *Service) { s.ExecPath = "/opt/%n/app" }, "ExecPath"},
		{"unclean path", func(s *Service) { s.ExecPath = "/opt/../app" }, "ExecPath"},
		{"no env file", func(s *Service) { s.EnvFile = "" }, "EnvFile is empty"},
		{"injection", func(s *Service) { s.Credential = "/run/x/db.json\nExecStartPre=/bin/sh" }, "Credential"},
		{"no user", func(s *Service) { s.User = "" }, "User"},
		{"root", func(s *Service) { s.User = "root" }, "User must not be root"},
		{"bad user", func(s *Service) { s.User = "Web App" }, "User"},
		{"port", func(s *Service) { s.ListenPort = 70000 }, "ListenPort"},
	} {
		s := exampleService
		tc.mutate(&s)
		_, err := Unit(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	_, err := Unit(Service{})
	for _, field := range []string{"Name", "SecretsUnit", "ExecPath", "EnvFile", "Credential", "User"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("empty service: err = %v, want it to mention %s", err, field)
		}
	}
}

func TestSecretsUnitValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*SecretsFetch)
		want   string
	}{
		{"suffix", func(f *SecretsFetch) { f.Unit = "x.service" }, "without .service"},
		{"no env file", func(f *SecretsFetch) { f.SecretARNEnvFile = "" }, "SecretARNEnvFile is empty"},
		{"directory env file", func(f *SecretsFetch) { f.SecretARNEnvFile = "/etc/webstack/" }, "SecretARNEnvFile"},
		{"relative output", func(f *SecretsFetch) { f.Output = "db.json" }, "Output"},
		{"output directly in /run", func(f *SecretsFetch) { f.Output = "/run/db.json" }, "directory of its own"},
		{"shell in script path", func(f *SecretsFetch) { f.Script = "/usr/local/bin/fetch $x" }, "Script"},
		{"unclean script path", func(f *SecretsFetch) { f.Script = "/usr//fetch" }, "Script"},
	} {
		f := exampleFetch
		tc.mutate(&f)
		_, err := SecretsUnit(f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestEnvFile(t *testing.T) {
	must := mustRender(t)
	got := must(EnvFile(map[string]string{"B": `a "quoted" $HOME \ and ` + "`cmd`", "A": "plain value"}))
	want := "# " + header + "\n" +
		"A=\"plain value\"\n" +
		"B=\"a \\\"quoted\\\" \\$HOME \\\\ and \\`cmd\\`\"\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for name, vars := range map[string]map[string]string{
		"newline": {"A": "x\nB=y"},
		"cr":      {"A": "x\r"},
		"nul":     {"A": "x\x00"},
		"key":     {"1A": "x"},
		"key2":    {"A-B": "x"},
	} {
		if _, err := EnvFile(vars); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestEnvFileRoundTrip: bash reads the values back exactly (systemd's
// EnvironmentFile= parser follows the same double-quote rules).
func TestEnvFileRoundTrip(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	values := []string{`plain`, `with "quotes"`, `$HOME and ${PATH}`, `back\slash\`, "`id`", `it's`, `ünïcødé`, ``, `a=b # c`}
	vars := map[string]string{}
	for i, v := range values {
		vars[fmt.Sprintf("V%d", i)] = v
	}
	file := filepath.Join(t.TempDir(), "x.env")
	if err := os.WriteFile(file, []byte(mustRender(t)(EnvFile(vars))), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range values {
		out, err := exec.Command(bash, "-c", fmt.Sprintf(`set -a; . %q; printf %%s "$V%d"`, file, i)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want {
			t.Errorf("V%d read back as %q, want %q", i, out, want)
		}
	}
}
