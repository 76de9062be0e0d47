package nginxconf_test

import (
	"github.com/foobar/webstack/internal/testtools"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/webtier/nginxconf"
)

// production is a web server on Amazon Linux with the given application
// servers.
func production(apps ...nginxconf.Upstream) nginxconf.Config {
	return nginxconf.Config{
		ListenPort:      80,
		ServerName:      "www.foobar.com",
		AppServers:      apps,
		Keepalive:       32,
		WebRoot:         "/usr/share/webstack/www",
		HealthPath:      "/healthz",
		User:            "nginx",
		PidFile:         "/run/nginx.pid",
		TempDir:         "/var/lib/nginx/tmp",
		AccessLog:       "/var/log/nginx/access.log",
		ErrorLog:        "/var/log/nginx/error.log",
		MimeTypes:       "/etc/nginx/mime.types",
		WorkerProcesses: "auto",
	}
}

func TestRenderGolden(t *testing.T) {
	for name, c := range map[string]nginxconf.Config{
		"one-app": production(nginxconf.Upstream{Name: "app-1", Address: "10.0.4.10", Port: 8080}),
		"three-apps": production(
			nginxconf.Upstream{Name: "app-1", Address: "10.0.4.10", Port: 8080},
			nginxconf.Upstream{Name: "app-2", Address: "10.0.5.10", Port: 8080},
			nginxconf.Upstream{Name: "app-3", Address: "10.0.6.10", Port: 8080},
		),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := nginxconf.Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := nginxconf.Render(c); again != got {
				t.Fatal("Render is not deterministic")
			}
			testtools.Golden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

// withServersFile is production whose application servers are in a file
// webstack-agent writes.
func withServersFile() nginxconf.Config {
	c := production()
	c.ServersFile = "/etc/nginx/webstack-app-servers.conf"
	return c
}

func TestRenderServersGolden(t *testing.T) {
	for name, render := range map[string]func() (string, error){
		"servers-file":  func() (string, error) { return nginxconf.Render(withServersFile()) },
		"servers-none":  func() (string, error) { return nginxconf.RenderServers(nil) },
		"servers-three": func() (string, error) { return nginxconf.RenderServers(threeApps()) },
	} {
		t.Run(name, func(t *testing.T) {
			got, err := render()
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := render(); again != got {
				t.Fatal("not deterministic")
			}
			testtools.Golden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

// threeApps are three application servers named by instance id, as
// webstack-agent lists them.
func threeApps() []nginxconf.Upstream {
	return []nginxconf.Upstream{
		{Name: "i-0a1b2c3d4e5f60718", Address: "10.0.4.10", Port: 8080},
		{Name: "i-0b1b2c3d4e5f60718", Address: "10.0.5.10", Port: 8080},
		{Name: "i-0c1b2c3d4e5f60718", Address: "fd00::10", Port: 8080},
	}
}

// TestServersFileIsTheUpstreamBlock: the lines of a ServersFile are the
// ones Render writes into the upstream block, and nginx.conf includes the
// file instead.
func TestServersFileIsTheUpstreamBlock(t *testing.T) {
	c := production(threeApps()...)
	inline, err := nginxconf.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	file, err := nginxconf.RenderServers(threeApps())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(file, "\n") {
		if strings.HasPrefix(l, "server ") {
			lines = append(lines, l)
			if !strings.Contains(inline, "\n        "+l+"\n") {
				t.Errorf("nginx.conf's upstream block lacks %q", l)
			}
		}
	}
	if len(lines) != 3 || strings.Count(inline, "        server ") != 3 {
		t.Errorf("%d server lines in the file, %d in nginx.conf; want 3:\n%s", len(lines), strings.Count(inline, "        server "), file)
	}
	included, err := nginxconf.Render(withServersFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(included, "\n        include /etc/nginx/webstack-app-servers.conf;\n") || strings.Contains(included, "        server ") {
		t.Errorf("with ServersFile, the upstream block must include the file and list no server:\n%s", included)
	}
	wc := nginxconf.WebServer("www.foobar.com", 80, nil, nginxconf.Paths{ServersFile: "/etc/nginx/s.conf"})
	if wc.ServersFile != "/etc/nginx/s.conf" || wc.AppServers != nil {
		t.Errorf("WebServer does not pass Paths.ServersFile on: %+v", wc)
	}
	empty, err := nginxconf.RenderServers(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(empty, "\nserver 127.0.0.1:1 down;\n") || strings.Count(empty, "server ") != 1 {
		t.Errorf("no server: want one placeholder that is always down:\n%s", empty)
	}
}

func TestRenderServersRejects(t *testing.T) {
	for _, tc := range []struct {
		field string
		ups   []nginxconf.Upstream
	}{
		{"servers[0].Name", []nginxconf.Upstream{{Name: "", Address: "10.0.4.10", Port: 8080}}},
		{"servers[0].Address", []nginxconf.Upstream{{Name: "a", Address: "10.0.4.10:8080", Port: 8080}}},
		{"servers[0].Address", []nginxconf.Upstream{{Name: "a", Address: "10.0.4.10;", Port: 8080}}},
		{"servers[0].Port", []nginxconf.Upstream{{Name: "a", Address: "10.0.4.10", Port: 0}}},
		{"servers[1].Name", []nginxconf.Upstream{{Name: "a", Address: "10.0.4.10", Port: 8080}, {Name: "a", Address: "10.0.4.11", Port: 8080}}},
		{"servers[1]", []nginxconf.Upstream{{Name: "a", Address: "10.0.4.10", Port: 8080}, {Name: "b", Address: "10.0.4.10", Port: 8080}}},
	} {
		out, err := nginxconf.RenderServers(tc.ups)
		if err == nil || out != "" {
			t.Errorf("%s: no error; rendered:\n%s", tc.field, out)
			continue
		}
		if !strings.Contains(err.Error(), "nginxconf: "+tc.field+": ") {
			t.Errorf("%s: error does not name the field: %v", tc.field, err)
		}
	}
	for _, tc := range []struct {
		field  string
		modify func(*nginxconf.Config)
	}{
		{"ServersFile", func(c *nginxconf.Config) { c.ServersFile = "servers.conf" }},
		{"ServersFile", func(c *nginxconf.Config) { c.ServersFile = "/etc/nginx/my servers.conf" }},
		{"AppServers", func(c *nginxconf.Config) {
			c.AppServers = []nginxconf.Upstream{{Name: "app-1", Address: "10.0.4.10", Port: 8080}}
		}},
	} {
		c := withServersFile()
		tc.modify(&c)
		conf, err := nginxconf.Render(c)
		if err == nil {
			t.Errorf("%s: no error; rendered:\n%s", tc.field, conf)
			continue
		}
		if !strings.Contains(err.Error(), "nginxconf: "+tc.field+": ") {
			t.Errorf("%s: error does not name the field: %v", tc.field, err)
		}
	}
}

// TestRenderEssentials pins the lines that make failover and keep-alive
// work, so that a careless -update cannot drop them unnoticed.
func TestRenderEssentials(t *testing.T) {
	c := production(nginxconf.Upstream{Name: "app-1", Address: "10.0.4.10", Port: 8080})
	c.ListenAddr = "127.0.0.1"
	c.User, c.AccessLog, c.ErrorLog = "", "off", "stderr"
	conf, err := nginxconf.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"listen 127.0.0.1:80 default_server;",
		"server 10.0.4.10:8080 max_fails=1 fail_timeout=5s;",
		"keepalive 32;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_next_upstream error timeout http_502 http_504;",
		"access_log off;",
		"error_log stderr warn;",
		"proxy_intercept_errors off;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, unwanted := range []string{"\nuser ", "non_idempotent"} {
		if strings.Contains(conf, unwanted) {
			t.Errorf("unexpected %q", unwanted)
		}
	}
	if lc, ka := strings.Index(conf, "least_conn;"), strings.Index(conf, "keepalive 32;"); lc < 0 || lc > ka {
		t.Error("least_conn must come before keepalive")
	}
	if v6, _ := nginxconf.Render(func() nginxconf.Config {
		c.AppServers = []nginxconf.Upstream{{Name: "v6", Address: "fd00::10", Port: 8080}}
		return c
	}()); !strings.Contains(v6, "server [fd00::10]:8080 ") {
		t.Error("IPv6 application servers must be bracketed")
	}
}

func TestRenderRejects(t *testing.T) {
	app := nginxconf.Upstream{Name: "app-1", Address: "10.0.4.10", Port: 8080}
	for _, tc := range []struct {
		field  string
		modify func(*nginxconf.Config)
	}{
		{"ListenAddr", func(c *nginxconf.Config) { c.ListenAddr = "10.0.0.1:80" }},
		{"ListenPort", func(c *nginxconf.Config) { c.ListenPort = 0 }},
		{"ListenPort", func(c *nginxconf.Config) { c.ListenPort = 70000 }},
		{"ServerName", func(c *nginxconf.Config) { c.ServerName = "" }},
		{"ServerName", func(c *nginxconf.Config) { c.ServerName = "www.foobar.com; evil" }},
		{"AppServers", func(c *nginxconf.Config) { c.AppServers = nil }},
		{"AppServers[0].Name", func(c *nginxconf.Config) { c.AppServers[0].Name = "" }},
		{"AppServers[0].Address", func(c *nginxconf.Config) { c.AppServers[0].Address = "" }},
		{"AppServers[0].Address", func(c *nginxconf.Config) { c.AppServers[0].Address = "10.0.4.10:8080" }},
		{"AppServers[0].Port", func(c *nginxconf.Config) { c.AppServers[0].Port = -1 }},
		{"AppServers[1].Name", func(c *nginxconf.Config) {
			c.AppServers = append(c.AppServers, nginxconf.Upstream{Name: "app-1", Address: "10.0.5.10", Port: 8080})
		}},
		{"AppServers[1]", func(c *nginxconf.Config) {
			c.AppServers = append(c.AppServers, nginxconf.Upstream{Name: "app-2", Address: "10.0.4.10", Port: 8080})
		}},
		{"Keepalive", func(c *nginxconf.Config) { c.Keepalive = 0 }},
		{"WebRoot", func(c *nginxconf.Config) { c.WebRoot = "www" }},
		{"WebRoot", func(c *nginxconf.Config) { c.WebRoot = "/srv/my www" }},
		{"HealthPath", func(c *nginxconf.Config) { c.HealthPath = "healthz" }},
		{"HealthPath", func(c *nginxconf.Config) { c.HealthPath = "/" }},
		{"HealthPath", func(c *nginxconf.Config) { c.HealthPath = "/static/health" }},
		{"User", func(c *nginxconf.Config) { c.User = "nginx\nworker_processes 64" }},
		{"PidFile", func(c *nginxconf.Config) { c.PidFile = "" }},
		{"TempDir", func(c *nginxconf.Config) { c.TempDir = "tmp" }},
		{"AccessLog", func(c *nginxconf.Config) { c.AccessLog = "" }},
		{"AccessLog", func(c *nginxconf.Config) { c.AccessLog = "stderr" }},
		{"ErrorLog", func(c *nginxconf.Config) { c.ErrorLog = "off" }},
		{"MimeTypes", func(c *nginxconf.Config) { c.MimeTypes = "mime.types" }},
		{"WorkerProcesses", func(c *nginxconf.Config) { c.WorkerProcesses = "" }},
		{"WorkerProcesses", func(c *nginxconf.Config) { c.WorkerProcesses = "0" }},
	} {
		c := production(app)
		tc.modify(&c)
		conf, err := nginxconf.Render(c)
		if err == nil {
			t.Errorf("%s: no error; rendered:\n%s", tc.field, conf)
			continue
		}
		if !strings.Contains(err.Error(), "nginxconf: "+tc.field+": ") {
			t.Errorf("%s: error does not name the field: %v", tc.field, err)
		}
		if conf != "" {
			t.Errorf("%s: returned a configuration along with the error", tc.field)
		}
	}
}

func TestRenderReportsEveryProblem(t *testing.T) {
	_, err := nginxconf.Render(nginxconf.Config{})
	if err == nil {
		t.Fatal("the zero Config was accepted")
	}
	for _, field := range []string{"ListenPort", "ServerName", "AppServers", "Keepalive", "WebRoot",
		"HealthPath", "PidFile", "TempDir", "AccessLog", "ErrorLog", "MimeTypes", "WorkerProcesses"} {
		if !strings.Contains(err.Error(), "nginxconf: "+field+": ") {
			t.Errorf("the error does not mention %s:\n%v", field, err)
		}
	}
}

func TestFiles(t *testing.T) {
	files := nginxconf.Files("www.foobar.com")
	names := slices.Sorted(maps.Keys(files))
	if want := "errors/50x.html static/robots.txt static/style.css"; strings.Join(names, " ") != want {
		t.Errorf("Files() = %v, want %s", names, want)
	}
	page := files["errors/50x.html"]
	if !strings.Contains(page, "www.foobar.com is taking a short break — please try again in a moment") {
		t.Errorf("50x.html lacks the message:\n%s", page)
	}
	for _, external := range []string{"http:", "https:", "//", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, external) {
			t.Errorf("50x.html must be self-contained, but contains %q", external)
		}
	}
	if !strings.Contains(files["static/style.css"], "body") {
		t.Error("style.css has no body rule")
	}
	if !strings.HasPrefix(files["static/robots.txt"], "User-agent: *") {
		t.Error("robots.txt has no User-agent line")
	}
	if escaped := nginxconf.Files(`<b>"x"</b>`)["errors/50x.html"]; strings.Contains(escaped, "<b>") {
		t.Error("the site name is not HTML-escaped")
	}
	if !strings.Contains(nginxconf.Files("")["errors/50x.html"], "This site is taking a short break") {
		t.Error(`Files("") does not fall back to "This site"`)
	}
}
