//go:build linux

package nginxconf_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/testtools"
)

const (
	siteName     = "www.foobar.com"
	friendlyText = "is taking a short break"
)

// sandboxConfig is a Config whose every path lies in dir, the way the
// sandbox runs one nginx per network namespace on one filesystem. It
// creates the directories nginx expects and installs Files under WebRoot.
func sandboxConfig(t *testing.T, dir string, port int, apps ...nginxconf.Upstream) nginxconf.Config {
	t.Helper()
	c := nginxconf.Config{
		ListenAddr:      "127.0.0.1",
		ListenPort:      port,
		ServerName:      siteName,
		AppServers:      apps,
		Keepalive:       8,
		WebRoot:         filepath.Join(dir, "www"),
		HealthPath:      "/healthz",
		PidFile:         filepath.Join(dir, "nginx.pid"),
		TempDir:         filepath.Join(dir, "tmp"),
		AccessLog:       filepath.Join(dir, "access.log"),
		ErrorLog:        filepath.Join(dir, "error.log"),
		MimeTypes:       "/etc/nginx/mime.types",
		WorkerProcesses: "2",
	}
	// Started as root without a user directive, the workers run as nobody:
	// they must be able to reach the web root and the temporary directories,
	// and t.TempDir's parent is private to root.
	for _, d := range []string{filepath.Dir(dir), dir} {
		must(t, os.Chmod(d, 0o755))
	}
	must(t, os.MkdirAll(c.TempDir, 0o755))
	for name, content := range nginxconf.Files(siteName) {
		p := filepath.Join(c.WebRoot, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
	if _, err := os.Stat(c.MimeTypes); err != nil {
		c.MimeTypes = filepath.Join(dir, "mime.types")
		must(t, os.WriteFile(c.MimeTypes, []byte("types {\n    text/html html;\n    text/css css;\n    text/plain txt;\n}\n"), 0o644))
	}
	return c
}

// writeConf renders c into dir/nginx.conf and returns the file's path.
func writeConf(t *testing.T, dir string, c nginxconf.Config) string {
	t.Helper()
	conf, err := nginxconf.Render(c)
	must(t, err)
	file := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(file, []byte(conf), 0o644))
	return file
}

func TestNginxAcceptsConfig(t *testing.T) {
	nginx := testtools.Need(t, "nginx", "nginx-light")
	me, err := user.Current()
	must(t, err)
	apps := []nginxconf.Upstream{
		{Name: "app-1", Address: "127.0.0.1", Port: 8081},
		{Name: "app-2", Address: "localhost", Port: 8082},
		{Name: "app-3", Address: "::1", Port: 8083},
	}
	for name, edit := range map[string]func(*nginxconf.Config){
		"sandbox, one app server": func(c *nginxconf.Config) { c.AppServers = c.AppServers[:1] },
		"production-like, three app servers": func(c *nginxconf.Config) {
			c.ListenAddr, c.User, c.AccessLog, c.ErrorLog, c.WorkerProcesses = "", me.Username, "off", "stderr", "auto"
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := sandboxConfig(t, dir, 8080, apps...)
			edit(&c)
			file := writeConf(t, dir, c)
			out, err := exec.Command(nginx, "-t", "-c", file, "-p", dir+"/", "-e", "stderr").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "test is successful") {
				t.Fatalf("nginx -t: %v\n%s", err, out)
			}
			if c.User == "" && strings.Contains(string(out), "[warn]") {
				t.Errorf("nginx -t warns:\n%s", out)
			}
		})
	}
}

// TestNginxAcceptsServersFile checks nginx.conf with a ServersFile, and the
// file RenderServers writes, with the real "nginx -t".
func TestNginxAcceptsServersFile(t *testing.T) {
	nginx := testtools.Need(t, "nginx", "nginx-light")
	for name, ups := range map[string][]nginxconf.Upstream{
		"no server (placeholder)": nil,
		"one server":              {{Name: "i-0a1b2c3d4e5f60718", Address: "127.0.0.1", Port: 8081}},
		"three servers": {
			{Name: "i-0a1b2c3d4e5f60718", Address: "127.0.0.1", Port: 8081},
			{Name: "i-0b1b2c3d4e5f60718", Address: "127.0.0.2", Port: 8081},
			{Name: "i-0c1b2c3d4e5f60718", Address: "::1", Port: 8083},
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := sandboxConfig(t, dir, 8080)
			c.ServersFile = filepath.Join(dir, "servers.conf")
			file := writeConf(t, dir, c)
			servers, err := nginxconf.RenderServers(ups)
			must(t, err)
			must(t, os.WriteFile(c.ServersFile, []byte(servers), 0o644))
			out, err := exec.Command(nginx, "-t", "-c", file, "-p", dir+"/", "-e", "stderr").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "test is successful") || strings.Contains(string(out), "[warn]") {
				t.Fatalf("nginx -t: %v\n%s\nservers file:\n%s", err, out, servers)
			}
		})
	}
	t.Run("nginx.conf needs the file", func(t *testing.T) {
		dir := t.TempDir()
		c := sandboxConfig(t, dir, 8080)
		c.ServersFile = filepath.Join(dir, "servers.conf")
		file := writeConf(t, dir, c)
		if out, err := exec.Command(nginx, "-t", "-c", file, "-p", dir+"/", "-e", "stderr").CombinedOutput(); err == nil {
			t.Errorf("nginx -t passed without the servers file:\n%s", out)
		}
	})
}

// TestNginxServersFileReload runs nginx on the placeholder file (no
// application server: the error page), then rewrites the file and reloads
// nginx (SIGHUP, what "systemctl reload nginx" does), as webstack-agent
// does: requests reach the new application server.
func TestNginxServersFileReload(t *testing.T) {
	bin := testtools.Need(t, "nginx", "nginx-light")
	a := startApp(t, "app-1")
	dir := t.TempDir()
	port := freePort(t)
	c := sandboxConfig(t, dir, port)
	c.ServersFile = filepath.Join(dir, "servers.conf")
	none, err := nginxconf.RenderServers(nil)
	must(t, err)
	must(t, os.WriteFile(c.ServersFile, []byte(none), 0o644))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	master := runNginx(t, bin, dir, c, client, url)

	get := func() (int, string) {
		t.Helper()
		resp, err := client.Get(url + "/hello")
		must(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(); code != http.StatusBadGateway || !strings.Contains(body, friendlyText) {
		t.Fatalf("no application server: %d %q, want 502 with the error page", code, body)
	}

	one, err := nginxconf.RenderServers([]nginxconf.Upstream{a.upstream()})
	must(t, err)
	must(t, os.WriteFile(c.ServersFile, []byte(one), 0o644))
	must(t, master.Signal(syscall.SIGHUP))
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, body = get(); code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || !strings.Contains(body, "hello from app-1") {
		t.Fatalf("after the reload: %d %q, want app-1's answer", code, body)
	}
}

// app is a stand-in application server that counts what reaches it.
type app struct {
	name            string
	srv             *httptest.Server
	requests, conns atomic.Int64

	mu   sync.Mutex
	last *http.Request // the latest request, without its body
}

func startApp(t *testing.T, name string) *app {
	t.Helper()
	a := &app{name: name}
	a.srv = httptest.NewUnstartedServer(a)
	a.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.srv.Start()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	a.mu.Lock()
	a.last = r.Clone(r.Context())
	a.mu.Unlock()
	switch r.URL.Path {
	case "/die": // crashes while handling the request: no response at all
		_, _ = io.Copy(io.Discard, r.Body)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	case "/busy": // the application's own, deliberate 503
		w.Header().Set("Retry-After", "1")
		http.Error(w, "app busy", http.StatusServiceUnavailable)
	default:
		w.Header().Set("X-App", a.name)
		fmt.Fprintf(w, "hello from %s\n", a.name)
	}
}

func (a *app) lastRequest() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func (a *app) upstream() nginxconf.Upstream {
	addr := a.srv.Listener.Addr().(*net.TCPAddr)
	return nginxconf.Upstream{Name: a.name, Address: addr.IP.String(), Port: addr.Port}
}

// stack is a running nginx in front of application servers.
type stack struct {
	t      *testing.T
	url    string
	apps   []*app
	client *http.Client
	dir    string // nginx's files: access.log, error.log
}

// startStack starts n application servers and an nginx in front of them,
// all on free 127.0.0.1 ports. nginx is stopped when the test ends, whatever
// its outcome.
func startStack(t *testing.T, n int) *stack {
	t.Helper()
	bin := testtools.Need(t, "nginx", "nginx-light")
	s := &stack{t: t, client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}}
	var ups []nginxconf.Upstream
	for i := range n {
		a := startApp(t, fmt.Sprintf("app-%d", i+1))
		s.apps = append(s.apps, a)
		ups = append(ups, a.upstream())
	}
	dir := t.TempDir()
	s.dir = dir
	port := freePort(t)
	c := sandboxConfig(t, dir, port, ups...)
	s.url = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	runNginx(t, bin, dir, c, s.client, s.url)
	return s
}

// runNginx starts nginx on c, rendered into dir/nginx.conf, until the test
// ends, and waits until url answers c.HealthPath. It returns the master
// process.
func runNginx(t *testing.T, bin, dir string, c nginxconf.Config, client *http.Client, url string) *os.Process {
	t.Helper()
	file := writeConf(t, dir, c)
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	must(t, err)
	defer stderr.Close()
	cmd := exec.Command(bin, "-c", file, "-p", dir+"/", "-e", "stderr", "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Own process group, so the workers can be killed with the master; and
	// a fast shutdown if the test binary itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	must(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"stderr.log", "error.log"} {
			data, _ := os.ReadFile(filepath.Join(dir, f))
			fmt.Fprintf(&b, "--- %s\n%s", f, data)
		}
		return b.String()
	}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx logs:\n%s", logs())
		}
	})

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("nginx exited at startup:\n%s", logs())
		default:
		}
		if resp, err := client.Get(url + c.HealthPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd.Process
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer %s within 10s:\n%s", c.HealthPath, logs())
		}
	}
}

// response is what a client saw.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request; header holds extra headers, "Host" included.
func (s *stack) do(method, path, body string, header map[string]string) (response, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(data)}, err
}

// get is do for a GET that must get a response.
func (s *stack) get(path string) response {
	s.t.Helper()
	r, err := s.do(http.MethodGet, path, "", nil)
	must(s.t, err)
	return r
}

// appRequests is how many requests all application servers have seen.
func (s *stack) appRequests() (n int64) {
	for _, a := range s.apps {
		n += a.requests.Load()
	}
	return n
}

func (s *stack) appConns() (n int64) {
	for _, a := range s.apps {
		n += a.conns.Load()
	}
	return n
}

func TestNginxServes(t *testing.T) {
	s := startStack(t, 2)
	files := nginxconf.Files(siteName)

	t.Run("health check is answered by nginx", func(t *testing.T) {
		before := s.appRequests()
		r := s.get("/healthz")
		if r.status != 200 || r.body != "ok\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("GET /healthz = %d %q (%s), want 200 \"ok\\n\" text/plain", r.status, r.body, r.header.Get("Content-Type"))
		}
		if n := s.appRequests() - before; n != 0 {
			t.Errorf("the health check reached the application servers %d times", n)
		}
	})

	t.Run("static files are served by nginx", func(t *testing.T) {
		before := s.appRequests()
		r := s.get("/static/style.css")
		if r.status != 200 || r.body != files["static/style.css"] || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
			t.Errorf("GET /static/style.css = %d %s, %d bytes; want 200 text/css, the embedded file", r.status, r.header.Get("Content-Type"), len(r.body))
		}
		cc := strings.Join(r.header.Values("Cache-Control"), ", ")
		if !strings.Contains(cc, "max-age=604800") || !strings.Contains(cc, "public") || r.header.Get("Expires") == "" {
			t.Errorf("style.css: Cache-Control %q, Expires %q; want max-age=604800, public and an Expires date", cc, r.header.Get("Expires"))
		}
		if r := s.get("/robots.txt"); r.status != 200 || r.body != files["static/robots.txt"] {
			t.Errorf("GET /robots.txt = %d %q", r.status, r.body)
		}
		if r := s.get("/static/missing.css"); r.status != 404 {
			t.Errorf("GET /static/missing.css = %d, want 404", r.status)
		}
		if r := s.get("/errors/50x.html"); r.status != 404 {
			t.Errorf("GET /errors/50x.html = %d, want 404 (internal only)", r.status)
		}
		if n := s.appRequests() - before; n != 0 {
			t.Errorf("static requests reached the application servers %d times", n)
		}
	})

	t.Run("everything else is proxied", func(t *testing.T) {
		for _, tc := range []struct {
			sent     map[string]string
			xff, xfp string
		}{
			{map[string]string{"Host": siteName, "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "203.0.113.7, 127.0.0.1", "https"},
			{map[string]string{"Host": siteName}, "127.0.0.1", "http"},
		} {
			r, err := s.do(http.MethodGet, "/hello?x=1", "", tc.sent)
			must(t, err)
			if r.status != 200 || !strings.HasPrefix(r.body, "hello from app-") {
				t.Fatalf("GET /hello = %d %q", r.status, r.body)
			}
			var seen *http.Request
			for _, a := range s.apps {
				if a.name == r.header.Get("X-App") {
					seen = a.lastRequest()
				}
			}
			got := fmt.Sprintf("Host=%s URI=%s X-Forwarded-For=%s X-Forwarded-Proto=%s X-Real-IP=%s",
				seen.Host, seen.RequestURI, seen.Header.Get("X-Forwarded-For"), seen.Header.Get("X-Forwarded-Proto"), seen.Header.Get("X-Real-IP"))
			want := fmt.Sprintf("Host=%s URI=/hello?x=1 X-Forwarded-For=%s X-Forwarded-Proto=%s X-Real-IP=127.0.0.1", siteName, tc.xff, tc.xfp)
			if got != want {
				t.Errorf("sent %v; the application saw\n  %s\nwant\n  %s", tc.sent, got, want)
			}
		}
	})

	t.Run("connections to the application servers are reused", func(t *testing.T) {
		before := s.appRequests()
		for i := range 200 {
			if r := s.get(fmt.Sprintf("/page/%d", i)); r.status != 200 {
				t.Fatalf("GET %d = %d", i, r.status)
			}
		}
		if n := s.appRequests() - before; n != 200 {
			t.Errorf("the application servers saw %d of the 200 requests", n)
		}
		// Counted since the application servers started, so that earlier
		// subtests cannot have opened the connections this one reuses.
		reqs, conns := s.appRequests(), s.appConns()
		t.Logf("the application servers have seen %d requests over %d connections", reqs, conns)
		if conns > 10 {
			t.Errorf("%d connections for %d requests: upstream keep-alive is not working", conns, reqs)
		}
	})
}

func TestNginxFailover(t *testing.T) {
	s := startStack(t, 2)
	for i := range 10 {
		if r := s.get(fmt.Sprintf("/warmup/%d", i)); r.status != 200 {
			t.Fatalf("warm-up GET = %d", r.status)
		}
	}
	for _, a := range s.apps {
		if a.requests.Load() == 0 {
			t.Fatalf("%s got no traffic while both were up", a.name)
		}
	}

	// One application server dies in the middle of a steady stream of GETs.
	var failures []string
	for i := range 50 {
		if i == 10 {
			s.apps[1].srv.Close()
		}
		r, err := s.do(http.MethodGet, fmt.Sprintf("/stream/%d", i), "", nil)
		if err != nil || r.status != 200 {
			failures = append(failures, fmt.Sprintf("GET %d: %d %v", i, r.status, err))
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d of 50 GETs failed after app-2 died:\n%s", len(failures), strings.Join(failures, "\n"))
	}

	// Then the other one: nginx's own error, with the friendly page.
	s.apps[0].srv.Close()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r, err := s.do(method, "/", "a=1", nil)
		must(t, err)
		if r.status != 502 && r.status != 503 && r.status != 504 {
			t.Errorf("%s / with no application server = %d, want 502, 503 or 504", method, r.status)
		}
		if !strings.Contains(r.body, siteName+" "+friendlyText) || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s / with no application server: %s, not the friendly page:\n%s", method, r.header.Get("Content-Type"), r.body)
		}
	}
}

func TestNginxRetries(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		attempts           int64
		status             int
		body               string
	}{
		// The application died after receiving the POST: it may have acted
		// on it, so nginx must not send it to another server.
		{"a POST is not retried", http.MethodPost, "/die", 1, 502, siteName + " " + friendlyText},
		{"a GET is retried on the other server", http.MethodGet, "/die", 2, 502, siteName + " " + friendlyText},
		// The application's own 503 (its database is down) is passed on
		// unchanged (proxy_intercept_errors off), not retried elsewhere.
		{"the application's own 503 reaches the client", http.MethodGet, "/busy", 1, 503, "app busy\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, 2)
			r, err := s.do(tc.method, tc.path, "order=42", nil)
			must(t, err)
			if n := s.appRequests(); n != tc.attempts {
				t.Errorf("%s %s reached the application servers %d times, want %d", tc.method, tc.path, n, tc.attempts)
			}
			if r.status != tc.status || !strings.Contains(r.body, tc.body) {
				t.Errorf("%s %s = %d %q, want %d with %q", tc.method, tc.path, r.status, r.body, tc.status, tc.body)
			}
		})
	}
}

// An application's 503 must not mark it failed: the next requests still
// reach the application servers and get their answers, not nginx's 502.
func TestApplication503DoesNotMarkServersDown(t *testing.T) {
	s := startStack(t, 2)
	for i := 0; i < 4; i++ {
		r, err := s.do(http.MethodGet, "/busy", "", nil)
		must(t, err)
		if r.status != 503 || !strings.Contains(r.body, "app busy") {
			t.Fatalf("request %d: %d %q, want the application's 503", i, r.status, r.body)
		}
	}
	r, err := s.do(http.MethodGet, "/", "", nil)
	must(t, err)
	if r.status != 200 {
		t.Errorf("after four 503s, GET / = %d; the servers were marked down", r.status)
	}
}

func freePort(t *testing.T) int { return testtools.FreePort(t) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
