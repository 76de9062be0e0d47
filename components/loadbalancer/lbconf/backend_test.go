package lbconf_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/testtools"
)

// section is the "backend be_web" section of a rendered file, up to the
// blank line or the end of the file.
func section(t *testing.T, cfg string) string {
	t.Helper()
	i := strings.Index(cfg, "\nbackend be_web\n")
	if i < 0 {
		t.Fatalf("no backend be_web section in:\n%s", cfg)
	}
	s := cfg[i+1:]
	if j := strings.Index(s, "\n\n"); j >= 0 {
		s = s[:j+1]
	}
	return s
}

// TestBackendIsRenderHAProxysSection: the file RenderBackend renders holds
// exactly the section RenderHAProxy renders for the same servers.
func TestBackendIsRenderHAProxysSection(t *testing.T) {
	for name, h := range map[string]lbconf.HAProxy{"dev": devHAProxy(), "prod": prodHAProxy()} {
		t.Run(name, func(t *testing.T) {
			whole, err := lbconf.RenderHAProxy(h)
			check(t, err)
			file, err := lbconf.RenderBackend(lbconf.Backend{Name: "be_web", Servers: h.Servers, HealthPath: h.HealthPath, HealthHost: h.HealthHost})
			check(t, err)
			if got, want := section(t, file), section(t, whole); got != want {
				t.Errorf("RenderBackend's section differs from RenderHAProxy's:\n%s", testtools.FirstDifference(want, got))
			}
			if n := strings.Count(section(t, file), "\n    server "); n != len(h.Servers) {
				t.Errorf("%d server lines, want %d", n, len(h.Servers))
			}
		})
	}
}

func TestHAProxyWithoutServersHasNoBackend(t *testing.T) {
	cfg, err := lbconf.RenderHAProxy(agentHAProxy())
	check(t, err)
	if strings.Contains(cfg, "\nbackend ") || strings.Contains(cfg, "\n    server ") {
		t.Errorf("a configuration without servers has a backend section:\n%s", cfg)
	}
	if !strings.Contains(cfg, "\n    default_backend be_web\n") {
		t.Errorf("the frontend does not send requests to be_web:\n%s", cfg)
	}
	empty, err := lbconf.RenderBackend(backend())
	check(t, err)
	if strings.Contains(empty, "\n    server ") || !strings.Contains(empty, "answers 503") {
		t.Errorf("backend without servers:\n%s", empty)
	}
}

// haproxyCheckFiles runs "haproxy -c -f file…" with the stats password set.
func haproxyCheckFiles(t *testing.T, haproxy string, files ...string) (string, int) {
	t.Helper()
	args := []string{"-c"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return run(t, append(os.Environ(), statsEnv+"="+statsPassword), haproxy, args...)
}

// TestHAProxyWithBackendFileIsValid checks a configuration without servers
// completed by a backend file with the real "haproxy -c", as the agent does.
func TestHAProxyWithBackendFileIsValid(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	dir := t.TempDir()
	h := agentHAProxy()
	h.RuntimeDir = dir
	h.CertFile = selfSignedPEM(t, dir)
	main, err := lbconf.RenderHAProxy(h)
	check(t, err)
	mainPath := writeFile(t, dir, "haproxy.cfg", main, 0o644)
	for name, servers := range map[string][]lbconf.Server{
		"no server":     nil,
		"one server":    devHAProxy().Servers,
		"three servers": prodHAProxy().Servers,
		"IPv6 and instance ids": {
			{Name: "i-0a1b2c3d4e5f60718", Address: "10.0.0.10", Port: 80},
			{Name: "i-0f1e2d3c4b5a69788", Address: "fd00::10", Port: 8080},
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := lbconf.RenderBackend(lbconf.ClusterBackend(servers, "www.foobar.com"))
			check(t, err)
			backendPath := writeFile(t, t.TempDir(), "backend.cfg", b, 0o644)
			out, code := haproxyCheckFiles(t, haproxy, mainPath, backendPath)
			if code != 0 || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
				t.Fatalf("haproxy -c -f main -f backend: exit %d, want 0 without warnings:\n%s\nbackend:\n%s", code, out, b)
			}
		})
	}
	t.Run("the main file alone is incomplete", func(t *testing.T) {
		if out, code := haproxyCheckFiles(t, haproxy, mainPath); code == 0 || !strings.Contains(out, "be_web") {
			t.Errorf("haproxy -c -f main: exit %d, want an error naming be_web:\n%s", code, out)
		}
	})
	t.Run("a backend of another name does not complete it", func(t *testing.T) {
		other := backend()
		other.Name = "be_other"
		b, err := lbconf.RenderBackend(other)
		check(t, err)
		if out, code := haproxyCheckFiles(t, haproxy, mainPath, writeFile(t, t.TempDir(), "backend.cfg", b, 0o644)); code == 0 {
			t.Errorf("haproxy -c accepted a backend named be_other:\n%s", out)
		}
	})
}

func TestBackendValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*lbconf.Backend)
		field  string
		value  string
	}{
		{"empty name", func(b *lbconf.Backend) { b.Name = "" }, "Backend.Name", `""`},
		{"name with space", func(b *lbconf.Backend) { b.Name = "be web" }, "Backend.Name", `"be web"`},
		{"server name with space", func(b *lbconf.Backend) { b.Servers[0].Name = "web 1" }, "Backend.Servers[0].Name", `"web 1"`},
		{"duplicate server name", func(b *lbconf.Backend) { b.Servers[2].Name = "web1" }, "Backend.Servers[2].Name", `"web1"`},
		{"server host name", func(b *lbconf.Backend) { b.Servers[1].Address = "web2.internal" }, "Backend.Servers[1].Address", `"web2.internal"`},
		{"server port 0", func(b *lbconf.Backend) { b.Servers[0].Port = 0 }, "Backend.Servers[0].Port", "0"},
		{"duplicate endpoint", func(b *lbconf.Backend) { b.Servers[2].Address = "10.0.0.10" }, "Backend.Servers[2]", `"10.0.0.10:80"`},
		{"relative health path", func(b *lbconf.Backend) { b.HealthPath = "healthz" }, "Backend.HealthPath", `"healthz"`},
		{"health host with space", func(b *lbconf.Backend) { b.HealthHost = "www foobar.com" }, "Backend.HealthHost", `"www foobar.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := lbconf.ClusterBackend(prodHAProxy().Servers, "www.foobar.com")
			tc.change(&b)
			cfg, err := lbconf.RenderBackend(b)
			if err == nil {
				t.Fatalf("no error; rendered:\n%s", cfg)
			}
			if cfg != "" {
				t.Error("an invalid input rendered a file")
			}
			if want := tc.field + " " + tc.value + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
	_, err := lbconf.RenderBackend(lbconf.Backend{})
	for _, field := range []string{"Name", "HealthPath", "HealthHost"} {
		if err == nil || !strings.Contains(err.Error(), "Backend."+field+" ") {
			t.Errorf("the zero Backend: error does not name Backend.%s: %v", field, err)
		}
	}
}

// TestHAProxyRuntimeBackendFile runs HAProxy in master-worker mode on a
// configuration without servers and an empty backend file (503), then
// rewrites the backend file and reloads HAProxy (SIGUSR2 to the master,
// what "systemctl reload haproxy" does), as webstack-agent does: the new
// web server gets the requests.
func TestHAProxyRuntimeBackendFile(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	web1 := newWeb(t, "web1")
	h := sandboxHAProxy(t)
	main, err := lbconf.RenderHAProxy(h)
	check(t, err)
	mainPath := writeFile(t, h.RuntimeDir, "haproxy.cfg", main, 0o644)
	empty, err := lbconf.RenderBackend(backend())
	check(t, err)
	backendPath := writeFile(t, h.RuntimeDir, "backend.cfg", empty, 0o644)

	logf, err := os.Create(filepath.Join(h.RuntimeDir, "haproxy.log"))
	check(t, err)
	cmd := exec.Command(haproxy, "-W", "-db", "-f", mainPath, "-f", backendPath)
	cmd.Env = append(os.Environ(), statsEnv+"="+statsPassword)
	cmd.Stdout, cmd.Stderr = logf, logf
	check(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy output:\n%s", out)
		}
	})

	front := fmt.Sprintf("http://127.0.0.1:%d/", h.HTTPPort)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// waitFor waits until GET / answers want.
	waitFor := func(want int) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp, err := c.Get(front)
			if err != nil {
				got = err.Error()
				continue
			}
			resp.Body.Close()
			if got = resp.Status; resp.StatusCode == want {
				return
			}
		}
		t.Fatalf("GET %s: %s, want %d", front, got, want)
	}
	waitFor(http.StatusServiceUnavailable)

	one, err := lbconf.RenderBackend(lbconf.ClusterBackend([]lbconf.Server{web1.server()}, "www.foobar.com"))
	check(t, err)
	writeFile(t, h.RuntimeDir, "backend.cfg", one, 0o644)
	check(t, cmd.Process.Signal(syscall.SIGUSR2))
	waitFor(http.StatusOK)
	if web1.hits.Load() == 0 {
		t.Error("web1 served nothing after the reload")
	}
}
