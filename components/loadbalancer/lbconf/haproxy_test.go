package lbconf_test

import (
	"context"
	"crypto/tls"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/testtools"
)

// A stats password with the characters most likely to break quoting.
const statsPassword = `s3cret pa$$ "word" #1:x\y`

// haproxyCheck runs "haproxy -c" on a rendered config with the stats
// password set, and fails the test on a non-zero exit or any warning.
func haproxyCheck(t *testing.T, haproxy, cfg string) {
	t.Helper()
	path := writeFile(t, t.TempDir(), "haproxy.cfg", cfg, 0o644)
	out, code := run(t, append(os.Environ(), statsEnv+"="+statsPassword), haproxy, "-c", "-f", path)
	if code != 0 || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
		t.Fatalf("haproxy -c: exit %d, want 0 without warnings:\n%s\nconfig:\n%s", code, out, cfg)
	}
}

func TestHAProxyConfigIsValid(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	for name, h := range map[string]lbconf.HAProxy{"dev": devHAProxy(), "prod": prodHAProxy()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			h.RuntimeDir = dir
			if h.CertFile != "" {
				h.CertFile = selfSignedPEM(t, dir)
			}
			cfg, err := lbconf.RenderHAProxy(h)
			if err != nil {
				t.Fatal(err)
			}
			haproxyCheck(t, haproxy, cfg)
		})
	}
	t.Run("sandbox", func(t *testing.T) {
		h := devHAProxy()
		h.RuntimeDir, h.Log, h.User, h.Group = t.TempDir(), "stdout", "", ""
		cfg, err := lbconf.RenderHAProxy(h)
		if err != nil {
			t.Fatal(err)
		}
		haproxyCheck(t, haproxy, cfg)
	})
}

func TestHAProxyRefusesToLoadWithoutStatsPassword(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	h := devHAProxy()
	h.RuntimeDir = t.TempDir()
	cfg, err := lbconf.RenderHAProxy(h)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, h.RuntimeDir, "haproxy.cfg", cfg, 0o644)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, statsEnv+"=") {
			env = append(env, kv)
		}
	}
	out, code := run(t, env, haproxy, "-c", "-f", path)
	if code == 0 || !strings.Contains(out, statsEnv) {
		t.Fatalf("haproxy -c without %s: exit %d, want an error naming the variable:\n%s", statsEnv, code, out)
	}
}

func TestHAProxyStatsPasswordIsNotInConfig(t *testing.T) {
	t.Setenv(statsEnv, statsPassword)
	for name, h := range map[string]lbconf.HAProxy{"dev": devHAProxy(), "prod": prodHAProxy()} {
		cfg, err := lbconf.RenderHAProxy(h)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cfg, statsPassword) || strings.Contains(cfg, "s3cret") {
			t.Errorf("%s: the stats password is in haproxy.cfg", name)
		}
		if want := "    stats auth admin:\"${" + statsEnv + "}\"\n"; !strings.Contains(cfg, want) {
			t.Errorf("%s: haproxy.cfg lacks %q", name, want)
		}
	}
}

func TestHAProxyValidation(t *testing.T) {
	long := "/run/" + strings.Repeat("x", 100)
	for _, tc := range []struct {
		name   string
		change func(*lbconf.HAProxy)
		field  string // the field the error must name
		value  string // and its value as printed
	}{
		{"server name with space", func(h *lbconf.HAProxy) { h.Servers[0].Name = "web 1" }, "HAProxy.Servers[0].Name", `"web 1"`},
		{"empty server name", func(h *lbconf.HAProxy) { h.Servers[0].Name = "" }, "HAProxy.Servers[0].Name", `""`},
		{"duplicate server name", func(h *lbconf.HAProxy) { h.Servers[2].Name = "web1" }, "HAProxy.Servers[2].Name", `"web1"`},
		{"bad server IP", func(h *lbconf.HAProxy) { h.Servers[1].Address = "10.0.16.300" }, "HAProxy.Servers[1].Address", `"10.0.16.300"`},
		{"server host name", func(h *lbconf.HAProxy) { h.Servers[0].Address = "web1.internal" }, "HAProxy.Servers[0].Address", `"web1.internal"`},
		{"unspecified server IP", func(h *lbconf.HAProxy) { h.Servers[0].Address = "0.0.0.0" }, "HAProxy.Servers[0].Address", `"0.0.0.0"`},
		{"server port 0", func(h *lbconf.HAProxy) { h.Servers[0].Port = 0 }, "HAProxy.Servers[0].Port", "0"},
		{"server port too big", func(h *lbconf.HAProxy) { h.Servers[0].Port = 65536 }, "HAProxy.Servers[0].Port", "65536"},
		{"duplicate endpoint", func(h *lbconf.HAProxy) { h.Servers[2].Address = "10.0.0.10" }, "HAProxy.Servers[2]", `"10.0.0.10:80"`},
		{"HTTP port 0", func(h *lbconf.HAProxy) { h.HTTPPort = 0 }, "HAProxy.HTTPPort", "0"},
		{"HTTPS port missing", func(h *lbconf.HAProxy) { h.HTTPSPort = 0 }, "HAProxy.HTTPSPort", "0"},
		{"HTTPS port is HTTP port", func(h *lbconf.HAProxy) { h.HTTPSPort = 80 }, "HAProxy.HTTPSPort", "80"},
		{"HTTPS port out of range without TLS", func(h *lbconf.HAProxy) { h.CertFile, h.HTTPSPort = "", -1 }, "HAProxy.HTTPSPort", "-1"},
		{"relative cert file", func(h *lbconf.HAProxy) { h.CertFile = "certs/site.pem" }, "HAProxy.CertFile", `"certs/site.pem"`},
		{"cert file with space", func(h *lbconf.HAProxy) { h.CertFile = "/etc/my certs/site.pem" }, "HAProxy.CertFile", `"/etc/my certs/site.pem"`},
		{"relative health path", func(h *lbconf.HAProxy) { h.HealthPath = "healthz" }, "HAProxy.HealthPath", `"healthz"`},
		{"health path with space", func(h *lbconf.HAProxy) { h.HealthPath = "/health z" }, "HAProxy.HealthPath", `"/health z"`},
		{"empty health host", func(h *lbconf.HAProxy) { h.HealthHost = "" }, "HAProxy.HealthHost", `""`},
		{"health host with space", func(h *lbconf.HAProxy) { h.HealthHost = "www foobar.com" }, "HAProxy.HealthHost", `"www foobar.com"`},
		{"monitor not loopback", func(h *lbconf.HAProxy) { h.MonitorAddr = "0.0.0.0:8405" }, "HAProxy.MonitorAddr", `"0.0.0.0:8405"`},
		{"monitor without port", func(h *lbconf.HAProxy) { h.MonitorAddr = "127.0.0.1" }, "HAProxy.MonitorAddr", `"127.0.0.1"`},
		{"monitor on the HTTP port", func(h *lbconf.HAProxy) { h.MonitorAddr = "127.0.0.1:80" }, "HAProxy.MonitorAddr", `"127.0.0.1:80"`},
		{"monitor path empty", func(h *lbconf.HAProxy) { h.MonitorPath = "" }, "HAProxy.MonitorPath", `""`},
		{"stats not loopback", func(h *lbconf.HAProxy) { h.StatsAddr = "10.0.128.10:8404" }, "HAProxy.StatsAddr", `"10.0.128.10:8404"`},
		{"stats on every address", func(h *lbconf.HAProxy) { h.StatsAddr = ":8404" }, "HAProxy.StatsAddr", `":8404"`},
		{"stats host name", func(h *lbconf.HAProxy) { h.StatsAddr = "localhost:8404" }, "HAProxy.StatsAddr", `"localhost:8404"`},
		{"stats on the HTTPS port", func(h *lbconf.HAProxy) { h.StatsAddr = "127.0.0.1:443" }, "HAProxy.StatsAddr", `"127.0.0.1:443"`},
		{"stats is monitor", func(h *lbconf.HAProxy) { h.StatsAddr = h.MonitorAddr }, "HAProxy.StatsAddr", `"127.0.0.1:8405"`},
		{"stats user with colon", func(h *lbconf.HAProxy) { h.StatsUser = "ad:min" }, "HAProxy.StatsUser", `"ad:min"`},
		{"stats password env empty", func(h *lbconf.HAProxy) { h.StatsPasswordEnv = "" }, "HAProxy.StatsPasswordEnv", `""`},
		{"stats password env is a reference", func(h *lbconf.HAProxy) { h.StatsPasswordEnv = "${PW}" }, "HAProxy.StatsPasswordEnv", `"${PW}"`},
		{"stats password env starts with digit", func(h *lbconf.HAProxy) { h.StatsPasswordEnv = "1PW" }, "HAProxy.StatsPasswordEnv", `"1PW"`},
		{"runtime dir empty", func(h *lbconf.HAProxy) { h.RuntimeDir = "" }, "HAProxy.RuntimeDir", `""`},
		{"runtime dir relative", func(h *lbconf.HAProxy) { h.RuntimeDir = "run/haproxy" }, "HAProxy.RuntimeDir", `"run/haproxy"`},
		{"socket path too long", func(h *lbconf.HAProxy) { h.RuntimeDir = long }, "HAProxy.RuntimeDir", strconv.Quote(long)},
		{"log not a path", func(h *lbconf.HAProxy) { h.Log = "syslog" }, "HAProxy.Log", `"syslog"`},
		{"log empty", func(h *lbconf.HAProxy) { h.Log = "" }, "HAProxy.Log", `""`},
		{"user with space", func(h *lbconf.HAProxy) { h.User = "ha proxy" }, "HAProxy.User", `"ha proxy"`},
		{"group with colon", func(h *lbconf.HAProxy) { h.Group = "ha:proxy" }, "HAProxy.Group", `"ha:proxy"`},
		{"maxconn 0", func(h *lbconf.HAProxy) { h.MaxConn = 0 }, "HAProxy.MaxConn", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := prodHAProxy()
			tc.change(&h)
			cfg, err := lbconf.RenderHAProxy(h)
			if err == nil {
				t.Fatalf("no error; rendered:\n%s", cfg)
			}
			if cfg != "" {
				t.Error("an invalid input rendered a config")
			}
			if want := tc.field + " " + tc.value + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

func TestHAProxyValidationReportsEveryField(t *testing.T) {
	_, err := lbconf.RenderHAProxy(lbconf.HAProxy{})
	if err == nil {
		t.Fatal("the zero HAProxy rendered")
	}
	for _, field := range []string{"HTTPPort", "HealthPath", "HealthHost", "MonitorAddr", "MonitorPath", "StatsAddr", "StatsUser", "StatsPasswordEnv", "RuntimeDir", "Log", "MaxConn"} {
		if !strings.Contains(err.Error(), "HAProxy."+field+" ") {
			t.Errorf("error does not name HAProxy.%s:\n%v", field, err)
		}
	}
}

func TestHAProxyIPv6Servers(t *testing.T) {
	h := devHAProxy()
	h.Servers[0].Address = "fd00::10"
	cfg, err := lbconf.RenderHAProxy(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg, "    server web1 [fd00::10]:80\n") {
		t.Errorf("IPv6 server not bracketed:\n%s", cfg)
	}
}

// web is a web server stand-in that counts the requests it serves.
type web struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64 // requests to anything but /healthz
	boom atomic.Int64 // requests to /boom, answered by closing the connection
}

// newWeb starts a web server. /healthz answers 200 only to HAProxy's check
// as configured (GET, HTTP/1.1, Host www.foobar.com); /boom closes the
// connection without a response; anything else answers its name and the
// forwarding headers.
func newWeb(t *testing.T, name string) *web {
	w := &web{name: name}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if r.Method != http.MethodGet || r.ProtoMinor != 1 || r.Host != "www.foobar.com" {
				http.Error(rw, "bad check", http.StatusBadRequest)
			}
			return
		case "/boom":
			w.boom.Add(1)
			conn, _, err := http.NewResponseController(rw).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.hits.Add(1)
		time.Sleep(5 * time.Millisecond) // so that some requests are in flight when it dies
		fmt.Fprintf(rw, "%s proto=%s xff=%s", w.name, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// server is the lbconf.Server of w.
func (w *web) server() lbconf.Server {
	u, _ := url.Parse(w.srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return lbconf.Server{Name: w.name, Address: u.Hostname(), Port: port}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int { return testtools.FreePort(t) }

// sandboxHAProxy is the sandbox flavour: foreground, log to stdout, no
// user switch, everything on free local ports.
func sandboxHAProxy(t *testing.T, webs ...*web) lbconf.HAProxy {
	h := devHAProxy()
	h.Servers = nil
	for _, w := range webs {
		h.Servers = append(h.Servers, w.server())
	}
	h.HTTPPort = freePort(t)
	h.MonitorAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.StatsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.RuntimeDir, h.Log, h.User, h.Group = t.TempDir(), "stdout", "", ""
	// HAProxy needs about 2 × maxconn file descriptors and refuses to start
	// when the hard RLIMIT_NOFILE is lower.
	h.MaxConn = 1000
	return h
}

// startHAProxy runs haproxy -db on the rendered h until the test ends and
// waits for its monitor URI to answer.
func startHAProxy(t *testing.T, haproxy string, h lbconf.HAProxy) {
	t.Helper()
	cfg, err := lbconf.RenderHAProxy(h)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, h.RuntimeDir, "haproxy.cfg", cfg, 0o644)
	logf, err := os.Create(filepath.Join(h.RuntimeDir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	cmd.Env = append(os.Environ(), statsEnv+"="+statsPassword)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy output:\n%s", out)
		}
	})
	monitor := "http://" + h.MonitorAddr + h.MonitorPath
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(monitor); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 5 s", monitor)
		}
	}
}

// serverStates reads be_web's server states from the stats page's CSV.
func serverStates(t *testing.T, h lbconf.HAProxy) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.StatsAddr+"/stats;csv", nil)
	req.SetBasicAuth(h.StatsUser, statsPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("stats CSV: %v", err)
	}
	status := -1
	for i, col := range rows[0] {
		if col == "status" {
			status = i
		}
	}
	states := map[string]string{}
	for _, row := range rows[1:] {
		if row[0] == "be_web" && row[1] != "BACKEND" {
			states[row[1]] = row[status]
		}
	}
	return states
}

// waitStates waits until be_web's servers are in the wanted states.
func waitStates(t *testing.T, h lbconf.HAProxy, want map[string]string) {
	t.Helper()
	var got map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = serverStates(t, h); fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	t.Fatalf("be_web servers: %v, want %v", got, want)
}

// get sends one request through the load balancer.
func get(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHAProxyRuntime runs the rendered sandbox config with the real HAProxy
// in front of two web servers.
func TestHAProxyRuntime(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	web1, web2 := newWeb(t, "web1"), newWeb(t, "web2")
	h := sandboxHAProxy(t, web1, web2)
	startHAProxy(t, haproxy, h)
	waitStates(t, h, map[string]string{"web1": "UP", "web2": "UP"})
	front := fmt.Sprintf("http://127.0.0.1:%d", h.HTTPPort)
	c := &http.Client{Timeout: 10 * time.Second}

	t.Run("stats password is expanded from the environment", func(t *testing.T) {
		for _, tc := range []struct {
			password string
			want     int
		}{{statsPassword, 200}, {"${" + statsEnv + "}", 401}, {"", 401}, {"wrong", 401}} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+h.StatsAddr+"/stats", nil)
			req.SetBasicAuth(h.StatsUser, tc.password)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("stats with password %q: %d, want %d", tc.password, resp.StatusCode, tc.want)
			}
		}
	})

	t.Run("forwarding headers", func(t *testing.T) {
		code, body := get(t, c, http.MethodGet, front+"/")
		if code != 200 || !strings.Contains(body, " proto=http xff=127.0.0.1") {
			t.Errorf("GET /: %d %q, want 200 with proto=http and xff=127.0.0.1", code, body)
		}
	})

	t.Run("check script", func(t *testing.T) {
		testtools.Need(t, "curl", "curl")
		dir := t.TempDir()
		good := writeFile(t, dir, "good", lbconf.CheckScript(h.MonitorAddr, h.MonitorPath), 0o755)
		if out, code := run(t, os.Environ(), good); code != 0 {
			t.Errorf("check script against a running HAProxy: exit %d\n%s", code, out)
		}
		bad := writeFile(t, dir, "bad", lbconf.CheckScript(h.MonitorAddr, "/nothing-here"), 0o755)
		if _, code := run(t, os.Environ(), bad); code == 0 {
			t.Error("check script passed on a path HAProxy does not monitor")
		}
	})

	// /boom closes the connection without answering (empty-response). Each
	// request has its own client connection: on a reused one, HAProxy
	// answers a failed request by closing the client connection instead of
	// a 502, so that the client retries as if a keep-alive connection had
	// timed out (and Go's client does, for GET and HEAD).
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct {
		method string
		tries  int64
	}{{http.MethodGet, 4}, {http.MethodHead, 4}, {http.MethodPost, 1}, {http.MethodPut, 1}, {http.MethodDelete, 1}} {
		t.Run(tc.method+" retries", func(t *testing.T) {
			before := web1.boom.Load() + web2.boom.Load()
			code, _ := get(t, fresh, tc.method, front+"/boom")
			tries := web1.boom.Load() + web2.boom.Load() - before
			if code != http.StatusBadGateway || tries != tc.tries {
				t.Errorf("%s /boom: %d after %d tries, want 502 after %d (1 + 3 retries for GET/HEAD, no retry otherwise)", tc.method, code, tries, tc.tries)
			}
		})
	}

	t.Run("no GET fails when a web server dies", func(t *testing.T) {
		var (
			stop     atomic.Bool
			ok, fail atomic.Int64
			wg       sync.WaitGroup
			mu       sync.Mutex
			failures []string
		)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A new connection per request: on a reused one, HAProxy
				// reports a failure by closing the connection, and Go's
				// client would silently retry the GET itself.
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				for !stop.Load() {
					var failure string
					resp, err := c.Get(front + "/")
					if err != nil {
						failure = err.Error()
					} else {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							failure = resp.Status
						}
					}
					if failure == "" {
						ok.Add(1)
						continue
					}
					fail.Add(1)
					mu.Lock()
					failures = append(failures, failure)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Second)
		served := web2.hits.Load()
		web2.srv.CloseClientConnections() // in-flight requests get no response
		web2.srv.Close()
		time.Sleep(3 * time.Second) // past detection: 2 failed checks, 1 s apart
		afterDown := web1.hits.Load()
		time.Sleep(500 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		t.Logf("%d GETs succeeded, %d failed; web2 served %d before it died", ok.Load(), fail.Load(), served)
		if fail.Load() != 0 {
			t.Errorf("%d GETs failed: %v", fail.Load(), failures)
		}
		if served == 0 || web1.hits.Load() == afterDown {
			t.Error("the load was not spread over both servers, then moved to web1")
		}
		waitStates(t, h, map[string]string{"web1": "UP", "web2": "DOWN"})
	})
}

// TestHAProxyRuntimeTLS runs the rendered TLS config with the real HAProxy.
func TestHAProxyRuntimeTLS(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	h := sandboxHAProxy(t, newWeb(t, "web1"))
	h.HTTPSPort = freePort(t)
	h.CertFile = selfSignedPEM(t, h.RuntimeDir)
	startHAProxy(t, haproxy, h)
	waitStates(t, h, map[string]string{"web1": "UP"})

	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Ask for www.foobar.com, but dial 127.0.0.1.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", h.HTTPPort))
	}
	noRedirect.Transport = &http.Transport{DialContext: dial}
	resp, err := noRedirect.Get(fmt.Sprintf("http://www.foobar.com:%d/a?b=c", h.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://www.foobar.com:%d/a?b=c", h.HTTPPort); resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(fmt.Sprintf("https://127.0.0.1:%d/", h.HTTPSPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), " proto=https ") {
		t.Errorf("HTTPS: %d %q, want 200 with proto=https", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS negotiated %s, want HTTP/2 (alpn h2)", resp.Proto)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
		t.Errorf("Strict-Transport-Security = %q", got)
	}
	if v := resp.TLS.Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	old := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}}
	defer old.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: old, Timeout: 5 * time.Second}).Get(fmt.Sprintf("https://127.0.0.1:%d/", h.HTTPSPort)); err == nil {
		resp.Body.Close()
		t.Error("HAProxy accepted TLS 1.1")
	}
}
