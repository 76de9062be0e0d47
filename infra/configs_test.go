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
			"lb1-haproxy.cfg":          {"lb-lb1-bundle", "/etc/haproxy/haproxy.cfg"},
			"lb1-keepalived.conf":      {"lb-lb1-bundle", "/etc/keepalived/keepalived.conf"},
			"lb2-keepalived.conf":      {"lb-lb2-bundle", "/etc/keepalived/keepalived.conf"},
			"web-nginx.conf":           {"web-bundle", "/etc/nginx/nginx.conf"},
			"app-webstack-app.service": {"app-bundle", "/etc/systemd/system/webstack-app.service"},
		} {
			got := file(t, bundle(t, rec, src[0]), src[1])
			testtools.Golden(t, filepath.Join("testdata", "configs", stack, name), got)
		}
	}
}

// The real HAProxy accepts every environment's configuration.
func TestHAProxyAcceptsEveryEnvironment(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		for _, lb := range []string{"lb1", "lb2"} {
			cfg := file(t, bundle(t, rec, "lb-"+lb+"-bundle"), "/etc/haproxy/haproxy.cfg")
			f := filepath.Join(t.TempDir(), "haproxy.cfg")
			os.WriteFile(f, []byte(cfg), 0o644)
			cmd := exec.Command(haproxy, "-c", "-f", f)
			cmd.Env = append(os.Environ(), "WEBSTACK_STATS_PASSWORD=not-the-real-one")
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), "[WARNING]") {
				t.Errorf("%s/%s: haproxy -c: %v\n%s", stack, lb, err, out)
			}
		}
	}
}

// cloud-init accepts every host's complete user data, in every environment.
func TestEveryHostsUserDataIsValidCloudConfig(t *testing.T) {
	ci := testtools.Need(t, "cloud-init", "cloud-init")
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		for _, i := range rec.OfType(instanceT) {
			f := filepath.Join(t.TempDir(), "user-data")
			os.WriteFile(f, []byte(i.Str("userData")), 0o600)
			out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
				t.Errorf("%s/%s: cloud-init schema: %v\n%s", stack, i.Name, err, out)
			}
		}
	}
}
