package lbconf_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/testtools"
)

// statsEnv is the stats password variable of the fixtures.
const statsEnv = "HAPROXY_STATS_PASSWORD"

// devHAProxy is a realistic dev LB: one web server, plain HTTP.
func devHAProxy() lbconf.HAProxy {
	return lbconf.HAProxy{
		Servers:          []lbconf.Server{{Name: "web1", Address: "10.0.0.10", Port: 80}},
		HTTPPort:         80,
		HealthPath:       "/healthz",
		HealthHost:       "www.foobar.com",
		MonitorAddr:      "127.0.0.1:8405",
		MonitorPath:      "/lbhealth",
		StatsAddr:        "127.0.0.1:8404",
		StatsUser:        "admin",
		StatsPasswordEnv: statsEnv,
		RuntimeDir:       "/run/haproxy",
		Log:              "/dev/log",
		User:             "haproxy",
		Group:            "haproxy",
		MaxConn:          20000,
	}
}

// prodHAProxy is a realistic prod LB: three web servers in two zones, TLS.
func prodHAProxy() lbconf.HAProxy {
	h := devHAProxy()
	h.Servers = []lbconf.Server{
		{Name: "web1", Address: "10.0.0.10", Port: 80},
		{Name: "web2", Address: "10.0.16.10", Port: 80},
		{Name: "web3", Address: "10.0.0.11", Port: 80},
	}
	h.HTTPSPort = 443
	h.CertFile = "/etc/haproxy/certs/www.foobar.com.pem"
	return h
}

// agentHAProxy is prodHAProxy without servers: webstack-agent writes
// backend be_web into a second file.
func agentHAProxy() lbconf.HAProxy {
	h := prodHAProxy()
	h.Servers = nil
	return h
}

// backend is the backend file of agentHAProxy before any web server is
// discovered.
func backend() lbconf.Backend {
	return lbconf.ClusterBackend(nil, "www.foobar.com")
}

// threeNodes is lb1 during a rolling replacement: its old peer and the
// peer's replacement, written as webstack-agent does (PeerIPs sorted,
// the instance id as router id).
func threeNodes() lbconf.Keepalived {
	k := lb1()
	k.RouterID, k.PeerIP, k.PeerIPs = "i-0a1b2c3d4e5f60718", "", []string{"10.0.136.10", "10.0.136.27"}
	return k
}

// lb1 is the preferred node of the pair.
func lb1() lbconf.Keepalived {
	return lbconf.Keepalived{
		RouterID:        "lb1",
		SourceIP:        "10.0.128.10",
		PeerIP:          "10.0.136.10",
		Priority:        150,
		VirtualRouterID: 51,
		AdvertInt:       1,
		LocalInclude:    "/etc/keepalived/local.conf",
		CheckScript:     "/usr/local/libexec/webstack/lb-check",
		CheckInterval:   1,
		CheckFall:       2,
		CheckRise:       2,
		NotifyMaster:    "/usr/local/libexec/webstack/lb-takeover",
		ScriptUser:      "root",
	}
}

// lb2 is lb1's peer.
func lb2() lbconf.Keepalived {
	k := lb1()
	k.RouterID, k.SourceIP, k.PeerIP, k.Priority = "lb2", "10.0.136.10", "10.0.128.10", 100
	return k
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", name), got)
}

func TestGolden(t *testing.T) {
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	lb2sandbox := lb2()
	lb2sandbox.NotifyBackup = "/usr/local/libexec/webstack/lb-release"
	for _, tc := range []struct {
		file   string
		render func() string
	}{
		{"haproxy-dev.cfg.golden", func() string { return must(lbconf.RenderHAProxy(devHAProxy())) }},
		{"haproxy-prod.cfg.golden", func() string { return must(lbconf.RenderHAProxy(prodHAProxy())) }},
		{"haproxy-agent.cfg.golden", func() string { return must(lbconf.RenderHAProxy(agentHAProxy())) }},
		{"backend-empty.cfg.golden", func() string { return must(lbconf.RenderBackend(backend())) }},
		{"backend-prod.cfg.golden", func() string {
			b := backend()
			b.Servers = prodHAProxy().Servers
			return must(lbconf.RenderBackend(b))
		}},
		{"keepalived-three-nodes.conf.golden", func() string { return must(lbconf.RenderKeepalived(threeNodes())) }},
		{"keepalived-lb1.conf.golden", func() string { return must(lbconf.RenderKeepalived(lb1())) }},
		{"keepalived-lb2.conf.golden", func() string { return must(lbconf.RenderKeepalived(lb2())) }},
		{"keepalived-lb2-notify-backup.conf.golden", func() string { return must(lbconf.RenderKeepalived(lb2sandbox)) }},
		{"check.sh.golden", func() string { return lbconf.CheckScript("127.0.0.1:8405", "/lbhealth") }},
		{"takeover.sh.golden", func() string {
			return lbconf.TakeoverScript("/etc/webstack/lb.env", "127.254.0.51/32", "/run/webstack-lb-takeover.lock")
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := tc.render()
			if again := tc.render(); again != got {
				t.Fatal("two renders of the same input differ")
			}
			golden(t, tc.file, got)
		})
	}
}

// check fails the test on an error.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeFile writes content to dir/name with mode perm and returns its path.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSignedPEM writes a throwaway certificate and its key, in the one-file
// form HAProxy's "crt" takes, and returns the path.
func selfSignedPEM(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "www.foobar.com"},
		DNSNames:     []string{"www.foobar.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return writeFile(t, dir, "site.pem", b.String(), 0o600)
}

// run runs a command and returns its combined output and exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestScriptsAreValidBash(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	dir := t.TempDir()
	for name, script := range map[string]string{
		"check.sh":    lbconf.CheckScript("127.0.0.1:8405", "/lbhealth"),
		"takeover.sh": lbconf.TakeoverScript("/etc/webstack/lb.env", "127.254.0.51/32", "/run/webstack-lb-takeover.lock"),
		"keep.sh":     lbconf.KeepAddressScript("/etc/webstack/lb.env", "/usr/local/libexec/webstack/lb-takeover", "127.254.0.51/32", "/run/x", "/var/log/webstack/vrrp.log"),
	} {
		p := writeFile(t, dir, name, script, 0o755)
		if out, code := run(t, os.Environ(), bash, "-n", p); code != 0 {
			t.Errorf("bash -n %s: exit %d\n%s", name, code, out)
		}
	}
	if s := lbconf.TakeoverScript("/x", "127.254.0.51/32", "/run/webstack-lb-takeover.lock"); !strings.HasPrefix(s, "#!/bin/bash\n") || !strings.Contains(s, "\nset -euo pipefail\n") {
		t.Errorf("takeover script must start with #!/bin/bash and set -euo pipefail:\n%s", s)
	}
}
