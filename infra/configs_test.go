package infra_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/testtools"
)

// The files each environment's hosts run, as golden files: a change to a
// renderer or a setting shows up as a reviewable diff of these files.
func TestRenderedConfigsPerEnvironment(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		for name, src := range map[string][2]string{
			"lb-haproxy.cfg":           {"lb-bundle", "/etc/haproxy/haproxy.cfg"},
			"lb-be_web.cfg":            {"lb-bundle", "/etc/haproxy/conf.d/be_web.cfg"},
			"lb-agent.json":            {"lb-bundle", "/etc/webstack/agent.json"},
			"web-nginx.conf":           {"web-bundle", "/etc/nginx/nginx.conf"},
			"web-agent.json":           {"web-bundle", "/etc/webstack/agent.json"},
			"app-webstack-app.service": {"app-bundle", "/etc/systemd/system/webstack-app.service"},
			"app-agent.json":           {"app-bundle", "/etc/webstack/agent.json"},
		} {
			got := file(t, bundle(t, rec, src[0]), src[1])
			testtools.Golden(t, filepath.Join("testdata", "configs", stack, name), got)
		}
	}
}

// The real HAProxy accepts every environment's configuration: the main
// file with the first backend file (no web server yet), as the bundle's
// check runs it.
func TestHAProxyAcceptsEveryEnvironment(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		b := bundle(t, rec, "lb-bundle")
		dir := t.TempDir()
		main, backend := filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "conf.d", "be_web.cfg")
		os.MkdirAll(filepath.Dir(backend), 0o755)
		os.WriteFile(main, []byte(file(t, b, "/etc/haproxy/haproxy.cfg")), 0o644)
		os.WriteFile(backend, []byte(file(t, b, "/etc/haproxy/conf.d/be_web.cfg")), 0o644)
		cmd := exec.Command(haproxy, "-c", "-f", main, "-f", filepath.Dir(backend))
		cmd.Env = append(os.Environ(), "WEBSTACK_STATS_PASSWORD=not-the-real-one")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "[WARNING]") {
			t.Errorf("%s: haproxy -c: %v\n%s", stack, err, out)
		}
	}
}

// cloud-init accepts every host's complete user data, in every environment.
func TestEveryHostsUserDataIsValidCloudConfig(t *testing.T) {
	ci := testtools.Need(t, "cloud-init", "cloud-init")
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		lts := rec.OfType(ltT)
		if len(lts) != 3 {
			t.Fatalf("%s: %d launch templates, want one per tier", stack, len(lts))
		}
		for _, i := range lts {
			f := filepath.Join(t.TempDir(), "user-data")
			os.WriteFile(f, []byte(decode(t, i.Str("userData"))), 0o600)
			out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
				t.Errorf("%s/%s: cloud-init schema: %v\n%s", stack, i.Name, err, out)
			}
		}
	}
}
