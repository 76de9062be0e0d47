package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/components/webtier/nginxconf"
)

// Ports of the sandbox's tiers: the stacks' defaults.
const (
	WebPort = 80
	AppPort = 8080
	DBPort  = 5432
)

func goarch() string { return runtime.GOARCH }

// write writes a file, creating its directory.
func write(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

// render writes every host's files, rendered by the components' own
// functions with the sandbox's addresses and paths, and registers the
// daemons.
func (s *Sandbox) render() error {
	t, site := s.Topology, s.Config.SiteName
	statsPassword, vrrpPassword := secret(24), secret(8)
	var errs []error
	must := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// The web servers behind HAProxy, the app servers behind nginx.
	var servers []lbconf.Server
	for _, w := range t.Tier("web") {
		servers = append(servers, lbconf.Server{Name: w.Name, Address: w.IP, Port: WebPort})
	}
	var apps []nginxconf.Upstream
	for _, a := range t.Tier("app") {
		apps = append(apps, nginxconf.Upstream{Name: a.Name, Address: a.IP, Port: AppPort})
	}

	lbs := t.Tier("lb")
	for i, h := range lbs {
		dir := s.HostDir(h.Name)
		paths := lbconf.Paths{
			RuntimeDir:   filepath.Join(dir, "run"),
			Log:          "stdout",
			MaxConn:      4000, // the sandbox's file descriptor limit, not a server's
			LocalInclude: filepath.Join(dir, "local.conf"),
			CheckScript:  filepath.Join(dir, "lb-check"),
			// The Elastic IP's notify script, swapped for one that moves
			// the sandbox's virtual IP (and announces it with ARP).
			NotifyMaster: filepath.Join(dir, "vip-up"),
			NotifyBackup: filepath.Join(dir, "vip-down"),
		}
		haproxy, err := lbconf.RenderHAProxy(lbconf.ClusterHAProxy(servers, site, paths))
		must(err)
		keepalived, err := lbconf.RenderKeepalived(lbconf.ClusterKeepalived(lbconf.Nodes[i], h.IP, lbs[1-i].IP, paths))
		must(err)
		vip := fmt.Sprintf("%s/%d", t.VIP, t.PrefixLen)
		must(os.MkdirAll(paths.RuntimeDir, 0o755))
		must(write(filepath.Join(dir, "haproxy.cfg"), haproxy, 0o644))
		must(write(filepath.Join(dir, "keepalived.conf"), keepalived, 0o644))
		must(write(paths.LocalInclude, "$IFACE=eth0\n$AUTH_PASS="+vrrpPassword+"\n", 0o600))
		must(write(paths.CheckScript, lbconf.CheckScript(lbconf.MonitorAddr, lbconf.MonitorPath), 0o755))
		must(write(paths.NotifyMaster, "#!/bin/sh\n# Take the virtual IP and tell the neighbours (the Elastic IP's stand-in).\nip addr add "+vip+" dev eth0 2>/dev/null\narping -q -U -c 2 -I eth0 "+t.VIP+" || true\nexit 0\n", 0o755))
		must(write(paths.NotifyBackup, "#!/bin/sh\n# Give the virtual IP up.\nip addr del "+vip+" dev eth0 2>/dev/null\nexit 0\n", 0o755))
		s.add(&daemon{
			id: h.Name + "/haproxy", host: h, stop: syscall.SIGTERM,
			argv:  []string{"haproxy", "-db", "-f", filepath.Join(dir, "haproxy.cfg")},
			env:   []string{lbconf.StatsPasswordEnv + "=" + statsPassword},
			ready: httpReady(h.NS(), "http://"+lbconf.MonitorAddr+lbconf.MonitorPath),
		})
		s.add(&daemon{
			id: h.Name + "/keepalived", host: h, stop: syscall.SIGTERM,
			argv: []string{"keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
				"--use-file=" + filepath.Join(dir, "keepalived.conf"),
				"--pid=" + filepath.Join(paths.RuntimeDir, "keepalived.pid"),
				"--vrrp_pid=" + filepath.Join(paths.RuntimeDir, "vrrp.pid")},
		})
	}

	for _, h := range t.Tier("web") {
		dir := s.HostDir(h.Name)
		paths := nginxconf.Paths{
			WebRoot:   filepath.Join(dir, "www"),
			PidFile:   filepath.Join(dir, "nginx.pid"),
			TempDir:   filepath.Join(dir, "tmp"),
			AccessLog: filepath.Join(dir, "access.log"),
			ErrorLog:  "stderr",
			MimeTypes: "/etc/nginx/mime.types",
		}
		conf, err := nginxconf.Render(nginxconf.WebServer(site, WebPort, apps, paths))
		must(err)
		must(write(filepath.Join(dir, "nginx.conf"), conf, 0o644))
		must(os.MkdirAll(paths.TempDir, 0o755))
		files := nginxconf.Files(site)
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			must(write(filepath.Join(paths.WebRoot, n), files[n], 0o644))
		}
		s.add(&daemon{
			id: h.Name + "/nginx", host: h, stop: syscall.SIGTERM,
			argv:  []string{"nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir + "/", "-e", "stderr", "-g", "daemon off;"},
			ready: httpReady(s.client().NS(), fmt.Sprintf("http://%s:%d%s", h.IP, WebPort, nginxconf.HealthPath)),
		})
	}

	db, _ := t.Host("db")
	dbPassword := secret(24)
	secretJSON, _ := json.Marshal(map[string]any{
		"engine": "postgres", "host": db.IP, "port": DBPort, "dbname": "postgres",
		"username": "webstack", "password": dbPassword, "tls": "disable",
	})
	for _, h := range t.Tier("app") {
		dir := s.HostDir(h.Name)
		must(write(filepath.Join(dir, "db.json"), string(secretJSON), 0o600))
		s.add(&daemon{
			id: h.Name + "/app", host: h, stop: syscall.SIGTERM,
			argv: []string{s.Release.Path},
			env: []string{
				fmt.Sprintf("WEBSTACK_LISTEN=%s:%d", h.IP, AppPort),
				"WEBSTACK_HOST_NAME=" + h.Name,
				"WEBSTACK_DB_SECRET_FILE=" + filepath.Join(dir, "db.json"),
			},
			ready: httpReady(s.client().NS(), fmt.Sprintf("http://%s:%d/healthz", h.IP, AppPort)),
		})
	}
	must(s.database(db, dbPassword))
	if len(errs) > 0 {
		return fmt.Errorf("sandbox: rendering: %v", errs)
	}
	return nil
}

func (s *Sandbox) add(d *daemon) {
	d.log = filepath.Join(s.HostDir(d.host.Name), filepath.Base(d.id)+".log")
	s.daemons[d.id] = d
}

// database initialises a PostgreSQL cluster in the state directory (as the
// postgres user: PostgreSQL refuses root) that accepts the sandbox's
// subnet with a password.
func (s *Sandbox) database(h Host, password string) error {
	bin, err := postgresBin()
	if err != nil {
		return err
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("sandbox: no postgres user (Debian package postgresql): %w", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	dir := s.HostDir(h.Name)
	data, sock, pwfile := filepath.Join(dir, "data"), filepath.Join(dir, "socket"), filepath.Join(dir, "pwfile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{data, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	if err := write(pwfile, password+"\n", 0o600); err != nil {
		return err
	}
	os.Chown(pwfile, uid, gid)
	asPostgres := []string{"setpriv", "--reuid", pg.Uid, "--regid", pg.Gid, "--clear-groups", "--"}
	initdb := exec.Command(asPostgres[0], append(asPostgres[1:], filepath.Join(bin, "initdb"), "-D", data, "-U", "webstack",
		"--pwfile", pwfile, "--auth-local", "trust", "--auth-host", "scram-sha-256", "-E", "UTF8", "--no-instructions")...)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("sandbox: initdb: %v: %s", err, out)
	}
	os.Remove(pwfile)
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(hba, "host all all %s scram-sha-256\n", s.Config.Subnet)
	hba.Close()
	s.add(&daemon{
		id: h.Name + "/postgres", host: h, stop: syscall.SIGINT, // fast shutdown
		argv: append(asPostgres, filepath.Join(bin, "postgres"), "-D", data,
			"-c", "listen_addresses="+h.IP, "-c", fmt.Sprintf("port=%d", DBPort), "-c", "unix_socket_directories="+sock),
		ready: tcpReady(s.client().NS(), fmt.Sprintf("%s:%d", h.IP, DBPort)),
	})
	return nil
}

// postgresBin finds the newest PostgreSQL's binaries.
func postgresBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "", fmt.Errorf("sandbox: PostgreSQL is not installed (Debian package postgresql)")
	}
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi < vj
	})
	return filepath.Dir(matches[len(matches)-1]), nil
}

// httpReady is ready when url answers 200 from inside namespace ns.
func httpReady(ns, url string) func(context.Context) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: DialContext(ns), DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		return nil
	}
}

// tcpReady is ready when addr accepts connections from namespace ns.
func tcpReady(ns, addr string) func(context.Context) error {
	dial := DialContext(ns)
	return func(ctx context.Context) error {
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}
