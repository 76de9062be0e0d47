package hostagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/testtools"
)

// TestDiscoveryWithRealChecks renders HAProxy's backend file and nginx's
// servers file through the agent's discovery, with the real "haproxy -c"
// and "nginx -t" as the checks (run by ExecRunner); the reloads are
// recorded. A real check failure puts the previous file back.
func TestDiscoveryWithRealChecks(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	nginx := testtools.Need(t, "nginx", "nginx-light")
	dir := t.TempDir()
	t.Setenv(lbconf.StatsPasswordEnv, "integration-test") // haproxy.cfg refuses to load without it

	// haproxy.cfg without servers, as the load balancers' bundle writes it.
	h := lbconf.ClusterHAProxy(nil, "www.foobar.com", lbconf.Paths{RuntimeDir: dir, Log: "stdout", MaxConn: 1000})
	mainCfg, err := lbconf.RenderHAProxy(h)
	if err != nil {
		t.Fatal(err)
	}
	haproxyCfg := filepath.Join(dir, "haproxy.cfg")
	backendCfg := filepath.Join(dir, "backend.cfg")
	must(t, os.WriteFile(haproxyCfg, []byte(mainCfg), 0o644))

	// nginx.conf including the servers file, as the web servers' bundle
	// writes it.
	must(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
	mime := "/etc/nginx/mime.types"
	if _, err := os.Stat(mime); err != nil {
		mime = filepath.Join(dir, "mime.types")
		must(t, os.WriteFile(mime, []byte("types {\n    text/html html;\n}\n"), 0o644))
	}
	paths := nginxconf.Paths{
		ListenAddr: "127.0.0.1", WebRoot: filepath.Join(dir, "www"), PidFile: filepath.Join(dir, "nginx.pid"),
		TempDir: filepath.Join(dir, "tmp"), AccessLog: "off", ErrorLog: "stderr", MimeTypes: mime,
		ServersFile: filepath.Join(dir, "app-servers.conf"),
	}
	nginxConf, err := nginxconf.Render(nginxconf.WebServer("www.foobar.com", 8080, nil, paths))
	if err != nil {
		t.Fatal(err)
	}
	nginxCfg := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(nginxCfg, []byte(nginxConf), 0o644))

	backend := lbconf.ClusterBackend(nil, "www.foobar.com")
	hr := newHarness(t, func(c *Config) {
		c.Discover = []Discovery{
			{
				Name: "web servers", Group: "web-servers", Port: 80, Render: RenderHAProxyBackend, HAProxy: &backend,
				Path:   backendCfg,
				Check:  []string{haproxy, "-c", "-f", haproxyCfg, "-f", backendCfg},
				Reload: []string{"reload-haproxy"},
			},
			{
				Name: "app servers", Group: "app-servers", Port: 8080, Render: RenderNginxServers,
				Path:   paths.ServersFile,
				Check:  []string{nginx, "-t", "-q", "-c", nginxCfg, "-p", dir + "/", "-e", "stderr"},
				Reload: []string{"reload-nginx"},
			},
		}
	})
	// The real programs run; the reloads are recorded.
	var mu sync.Mutex
	var ran []string
	runner := func(ctx context.Context, argv []string) ([]byte, error) {
		mu.Lock()
		ran = append(ran, filepath.Base(argv[0]))
		mu.Unlock()
		if strings.HasPrefix(argv[0], "reload-") {
			return nil, nil
		}
		return ExecRunner(ctx, argv)
	}
	hr.agent = New(hr.cfg, hr.aws, hr.aws, hr.aws, WithClock(hr.clock.now), WithRunner(runner),
		WithProcNet(hr.proc.read), WithHTTPClient(hr.svc.srv.Client()), WithLogger(hr.agent.log))
	took := func(want string) {
		t.Helper()
		mu.Lock()
		got := strings.Join(ran, " ")
		ran = nil
		mu.Unlock()
		if got != want {
			t.Errorf("ran %q, want %q", got, want)
		}
	}

	hr.aws.set("web-servers", "i-0web2 10.0.16.10", "i-0web1 10.0.0.10")
	hr.aws.set("app-servers", "i-0app1 10.0.4.10", "i-0app2 10.0.5.10", "i-0app3 10.0.6.10")
	hr.rounds(1)
	took("haproxy reload-haproxy nginx reload-nginx")
	if got := hr.file(backendCfg); !strings.HasSuffix(got, "\n    server i-0web1 10.0.0.10:80\n    server i-0web2 10.0.16.10:80\n") {
		t.Errorf("backend.cfg:\n%s", got)
	}
	if got := hr.file(paths.ServersFile); strings.Count(got, "max_fails=1 fail_timeout=5s;") != 3 || !strings.Contains(got, "server 10.0.6.10:8080 ") {
		t.Errorf("app-servers.conf:\n%s", got)
	}
	if strings.Contains(hr.logs.String(), "failed") {
		t.Errorf("a real check failed:\n%s", hr.logs)
	}

	// Nothing changed: nothing runs.
	hr.rounds(2)
	took("")

	// A web server goes, another comes; an application server leaves.
	hr.aws.set("web-servers", "i-0web3 10.0.32.10", "i-0web1 10.0.0.10")
	hr.aws.set("app-servers", "i-0app1 10.0.4.10", "i-0app3 10.0.6.10")
	hr.rounds(1)
	took("haproxy reload-haproxy nginx reload-nginx")
	if got := hr.file(backendCfg); strings.Contains(got, "i-0web2") || !strings.Contains(got, "server i-0web3 10.0.32.10:80") {
		t.Errorf("backend.cfg:\n%s", got)
	}

	// The main configurations break: the real checks fail, the previous
	// files are put back, nothing is reloaded, the checks' output is logged.
	goodBackend, goodServers := hr.file(backendCfg), hr.file(paths.ServersFile)
	must(t, os.WriteFile(haproxyCfg, []byte(mainCfg+"\nbackend be_web\n    balance roundrobin\n"), 0o644)) // be_web twice
	must(t, os.WriteFile(nginxCfg, []byte(strings.Replace(nginxConf, "upstream app {", "upstream app {\n        bogus_directive;", 1)), 0o644))
	hr.aws.set("web-servers", "i-0web1 10.0.0.10")
	hr.aws.set("app-servers", "i-0app1 10.0.4.10")
	hr.rounds(1)
	took("haproxy nginx")
	if hr.file(backendCfg) != goodBackend || hr.file(paths.ServersFile) != goodServers {
		t.Error("a file that failed its real check was not put back")
	}
	for _, want := range []string{"web servers: check of " + backendCfg + " failed", "be_web", "app servers: check of " + paths.ServersFile + " failed", "bogus_directive"} {
		if !strings.Contains(hr.logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, hr.logs)
		}
	}

	// Repaired: the same lists now pass.
	must(t, os.WriteFile(haproxyCfg, []byte(mainCfg), 0o644))
	must(t, os.WriteFile(nginxCfg, []byte(nginxConf), 0o644))
	hr.rounds(1)
	took("haproxy reload-haproxy nginx reload-nginx")

	// Every host gone: the files keep the last list.
	lastBackend, lastServers := hr.file(backendCfg), hr.file(paths.ServersFile)
	hr.aws.set("web-servers")
	hr.aws.set("app-servers")
	hr.rounds(2)
	took("")
	if hr.file(backendCfg) != lastBackend || hr.file(paths.ServersFile) != lastServers {
		t.Error("an empty list changed a file")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
