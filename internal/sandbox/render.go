package sandbox

import (
	"context"
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

	"github.com/foobar/webstack/components/apptier"
	"github.com/foobar/webstack/components/database/dbsecret"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/components/webtier"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/devca"
	"github.com/foobar/webstack/internal/hostagent"
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

// sh runs a shell command line (the agents' commands that signal a daemon
// by its pid file).
func sh(line string) []string { return []string{"/bin/sh", "-c", line} }

// signal is the command that sends a daemon, named by its pid file, a
// signal; it fails if the daemon does not run.
func signal(sig, pidFile string) []string {
	return sh(fmt.Sprintf(`kill -%s "$(cat %s)"`, sig, pidFile))
}

// agentPaths are where a host's agent keeps its state and finds the
// applied bundle's mark.
func (s *Sandbox) agentPaths(h Host) host.AgentPaths {
	dir := s.HostDir(h.Name)
	return host.AgentPaths{StateDir: filepath.Join(dir, "agent"), Applied: filepath.Join(dir, "applied")}
}

// addAgent registers a host's agent, with its configuration, pointed at
// the fake AWS APIs on the bridge.
func (s *Sandbox) addAgent(h Host, cfg hostagent.Config) error {
	text, err := cfg.JSON()
	if err != nil {
		return fmt.Errorf("sandbox: %s's agent: %w", h.Name, err)
	}
	conf := filepath.Join(s.HostDir(h.Name), "agent.json")
	if err := write(conf, text, 0o644); err != nil {
		return err
	}
	api := fmt.Sprintf("http://%s:%d", s.Topology.Gateway, APIPort)
	s.add(&daemon{
		id: h.Name + "/agent", host: h, stop: syscall.SIGTERM,
		argv: []string{s.Agent.Path, "-config", conf},
		env: []string{
			"AWS_REGION=" + Region,
			"AWS_ENDPOINT_URL_AUTO_SCALING=" + api + "/autoscaling",
			"AWS_ENDPOINT_URL_EC2=" + api + "/ec2",
			"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + api + "/",
		},
	})
	return nil
}

// renderLoadBalancer writes a load balancer's files and registers HAProxy
// and its agent, which starts keepalived once the node is in service.
func (s *Sandbox) renderLoadBalancer(h Host) ([]string, error) {
	dir := s.HostDir(h.Name)
	p := loadbalancer.Platform{
		Paths: lbconf.Paths{
			RuntimeDir:   filepath.Join(dir, "run"),
			Log:          "stdout",
			MaxConn:      4000, // the sandbox's file descriptor limit, not a server's
			LocalInclude: filepath.Join(dir, "local.conf"),
			CheckScript:  filepath.Join(dir, "lb-check"),
			// The Elastic IP's notify script, swapped for one that moves
			// the sandbox's virtual IP (and announces it with ARP). As
			// on AWS, nothing gives the address up: it stays where it
			// is until the new MASTER takes it.
			NotifyMaster: filepath.Join(dir, "vip-up"),
		},
		BackendFile:    filepath.Join(dir, "conf.d", "be_web.cfg"),
		HAProxyCheck:   []string{filepath.Join(dir, "haproxy-check")},
		HAProxyReload:  signal("USR2", filepath.Join(dir, "haproxy.pid")),
		HAProxyStop:    signal("USR1", filepath.Join(dir, "haproxy.pid")),
		KeepalivedFile: filepath.Join(dir, "keepalived.conf"),
		KeepAddress:    []string{filepath.Join(dir, "vip-keep")},
		AgentPaths:     s.agentPaths(h),
	}
	kaPid := filepath.Join(dir, "keepalived.pid")
	p.KeepalivedCheck = []string{path("keepalived"), "-t", "-f", p.KeepalivedFile}
	p.KeepalivedReload = sh(fmt.Sprintf(`if [ -s %[1]s ]; then kill -HUP "$(cat %[1]s)"; fi`, kaPid))
	p.KeepalivedStart = sh(fmt.Sprintf(`if ! { [ -s %[1]s ] && kill -0 "$(cat %[1]s)"; } 2>/dev/null; then %[2]s --dont-fork --log-console --log-detail --vrrp --use-file=%[3]s --pid=%[1]s --vrrp_pid=%[4]s >>%[5]s 2>&1 & fi`,
		kaPid, path("keepalived"), p.KeepalivedFile, filepath.Join(dir, "vrrp.pid"), filepath.Join(dir, "keepalived.log")))
	p.KeepalivedStop = sh(fmt.Sprintf(`if [ -s %[1]s ]; then kill -TERM "$(cat %[1]s)"; while kill -0 "$(cat %[1]s)" 2>/dev/null; do sleep 0.05; done; fi`, kaPid))

	site := s.Config.SiteName
	agent := loadbalancer.AgentConfig(loadbalancer.BundleArgs{
		Names: s.groupNames("lb"), Region: Region, SiteName: site, WebGroup: GroupName(s.Config, "web"), WebPort: WebPort,
	}, s.Config.Timing, p)
	marker := lbconf.MarkerAddr(agent.Discover[1].Keepalived.VirtualRouterID)
	haproxy, err := lbconf.RenderHAProxy(lbconf.ClusterHAProxy(nil, site, p.Paths))
	if err != nil {
		return nil, err
	}
	backend, err := lbconf.RenderBackend(lbconf.ClusterBackend(nil, site))
	if err != nil {
		return nil, err
	}
	secretsEnv := filepath.Join(dir, "secrets.env")
	vip := fmt.Sprintf("%s/%d", s.Topology.VIP, s.Topology.PrefixLen)
	for _, f := range []struct {
		path, content string
		mode          os.FileMode
	}{
		{filepath.Join(dir, "haproxy.cfg"), haproxy, 0o644},
		{p.BackendFile, backend, 0o644},
		{secretsEnv, lbconf.StatsPasswordEnv + "=" + s.secrets.stats + "\n", 0o600},
		{p.Paths.LocalInclude, "$IFACE=eth0\n$AUTH_PASS=" + s.secrets.vrrp + "\n", 0o600},
		{p.Paths.CheckScript, lbconf.CheckScript(lbconf.MonitorAddr, lbconf.MonitorPath), 0o755},
		{p.HAProxyCheck[0], fmt.Sprintf("#!/bin/sh\nset -a\n. %s\nexec %s -c -q -f %s -f %s\n",
			secretsEnv, path("haproxy"), filepath.Join(dir, "haproxy.cfg"), filepath.Dir(p.BackendFile)), 0o755},
		{p.Paths.NotifyMaster, vipUp(vip, s.Topology.VIP, s.Config.nsPrefix()+"lb", h.NS(), filepath.Join(s.Config.StateDir, "vip.lock"), marker), 0o755},
		{p.KeepAddress[0], vipKeep(marker, s.Topology.VIP, p.Paths.NotifyMaster), 0o755},
	} {
		if err := write(f.path, f.content, f.mode); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(p.Paths.RuntimeDir, 0o755); err != nil {
		return nil, err
	}
	s.add(&daemon{
		id: h.Name + "/haproxy", host: h, stop: syscall.SIGUSR1, // soft stop: finish the requests
		// Master-worker: a reload (USR2) starts new workers and lets the
		// old ones finish their requests.
		argv:  []string{"haproxy", "-W", "-db", "-f", filepath.Join(dir, "haproxy.cfg"), "-f", filepath.Dir(p.BackendFile), "-p", filepath.Join(dir, "haproxy.pid")},
		env:   []string{lbconf.StatsPasswordEnv + "=" + s.secrets.stats},
		ready: httpReady(h.NS(), "http://"+lbconf.MonitorAddr+lbconf.MonitorPath),
	})
	return []string{h.Name + "/haproxy"}, s.addAgent(h, agent)
}

// vipUp is the sandbox's stand-in for the Elastic IP's notify script: like
// associate-address with reassociation, it moves the virtual IP here from
// whichever load balancer holds it (their namespaces start with lbPrefix),
// one move at a time (lock): it adds the address, removes it from the
// others, and tells the neighbours with gratuitous ARP. There is no moment
// without a holder, and of two moves at once the last wins, as on AWS.
func vipUp(cidr, vip, lbPrefix, self, lock, marker string) string {
	return fmt.Sprintf(`#!/bin/sh
# Move the virtual IP here (the Elastic IP's stand-in: one holder at a time),
# as a settled MASTER only, like the Elastic IP's takeover.
%[6]s
exec 9>%[5]s
flock 9
ip addr add %[1]s dev eth0 2>/dev/null
for ns in /run/netns/%[3]s*; do
    ns=${ns##*/}
    [ "$ns" = %[4]s ] || ip -n "$ns" addr del %[1]s dev eth0 2>/dev/null
done
arping -q -U -c 2 -I eth0 %[2]s || true
exit 0
`, cidr, vip, lbPrefix, self, lock, lbconf.SettledMaster(marker, "echo"))
}

// vipKeep is the sandbox's lb-keep-address (lbconf.KeepAddressScript): the
// agent runs it every round; keepalived's MASTER (marker on lo) without
// the virtual IP takes it.
func vipKeep(marker, vip, vipUp string) string {
	return fmt.Sprintf(`#!/bin/sh
# keepalived's MASTER holds the virtual IP (lb-keep-address's stand-in).
ip -o -4 addr show dev lo | grep -qF " %[1]s " || exit 0
ip -o -4 addr show dev eth0 | grep -qF " %[2]s/" && exit 0
echo "MASTER without the virtual IP %[2]s: taking it"
exec %[3]s
`, marker, vip, vipUp)
}

// renderWebServer writes a web server's files and registers nginx and its
// agent, which fills nginx's servers file with the application servers in
// service.
func (s *Sandbox) renderWebServer(h Host) ([]string, error) {
	dir := s.HostDir(h.Name)
	pid := filepath.Join(dir, "nginx.pid")
	conf := filepath.Join(dir, "nginx.conf")
	p := webtier.Platform{
		Paths: nginxconf.Paths{
			WebRoot:     filepath.Join(dir, "www"),
			PidFile:     pid,
			TempDir:     filepath.Join(dir, "tmp"),
			AccessLog:   filepath.Join(dir, "access.log"),
			ErrorLog:    "stderr",
			MimeTypes:   "/etc/nginx/mime.types",
			ServersFile: filepath.Join(dir, "app-servers.conf"),
		},
		Check:      []string{path("nginx"), "-t", "-q", "-c", conf, "-p", dir + "/", "-e", "stderr"},
		Reload:     signal("HUP", pid),
		Stop:       signal("QUIT", pid), // graceful
		AgentPaths: s.agentPaths(h),
	}
	site := s.Config.SiteName
	text, err := nginxconf.Render(webtier.Config(site, WebPort, p))
	if err != nil {
		return nil, err
	}
	none, err := nginxconf.RenderServers(nil)
	if err != nil {
		return nil, err
	}
	if err := write(conf, text, 0o644); err != nil {
		return nil, err
	}
	if err := write(p.Paths.ServersFile, none, 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Paths.TempDir, 0o755); err != nil {
		return nil, err
	}
	files := nginxconf.Files(site)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := write(filepath.Join(p.Paths.WebRoot, n), files[n], 0o644); err != nil {
			return nil, err
		}
	}
	s.add(&daemon{
		id: h.Name + "/nginx", host: h, stop: syscall.SIGQUIT, // graceful
		argv:  []string{"nginx", "-c", conf, "-p", dir + "/", "-e", "stderr", "-g", "daemon off;"},
		ready: httpReady(h.NS(), fmt.Sprintf("http://127.0.0.1:%d%s", WebPort, nginxconf.HealthPath)),
	})
	agent := webtier.AgentConfig(s.groupNames("web"), Region, WebPort, GroupName(s.Config, "app"), AppPort, s.Config.Timing, p)
	return []string{h.Name + "/nginx"}, s.addAgent(h, agent)
}

// renderAppServer writes an application server's secret and registers the
// application and its agent.
func (s *Sandbox) renderAppServer(h Host) ([]string, error) {
	dir := s.HostDir(h.Name)
	pid := filepath.Join(dir, "app.pid")
	db, _ := s.Topology.Host("db")
	secretJSON, _ := dbsecret.Secret{
		Engine: dbsecret.Postgres, Host: db.IP, Port: DBPort, DBName: "postgres",
		Username: "webstack", Password: s.secrets.db, TLS: dbsecret.TLSVerifyFull,
	}.JSON()
	if err := write(filepath.Join(dir, "db.json"), secretJSON, 0o600); err != nil {
		return nil, err
	}
	s.add(&daemon{
		id: h.Name + "/app", host: h, stop: syscall.SIGTERM, pid: pid,
		argv: []string{s.Release.Path},
		env: []string{
			fmt.Sprintf("WEBSTACK_LISTEN=:%d", AppPort),
			"WEBSTACK_HOST_NAME=" + h.Name,
			"WEBSTACK_DB_SECRET_FILE=" + filepath.Join(dir, "db.json"),
			// The sandbox's own CA instead of the RDS bundle; the
			// application verifies the database's certificate all the same.
			"WEBSTACK_DB_CA_FILE=" + s.dbCAFile,
		},
		ready: httpReady(h.NS(), fmt.Sprintf("http://127.0.0.1:%d/healthz", AppPort)),
	})
	agent := apptier.AgentConfig(s.groupNames("app"), Region, AppPort, s.Config.Timing,
		apptier.Platform{Stop: signal("TERM", pid), AgentPaths: s.agentPaths(h)})
	return []string{h.Name + "/app"}, s.addAgent(h, agent)
}

func (s *Sandbox) add(d *daemon) {
	d.log = filepath.Join(s.HostDir(d.host.Name), filepath.Base(d.id)+".log")
	s.mu.Lock()
	s.daemons[d.id] = d
	s.mu.Unlock()
}

// database initialises a PostgreSQL cluster in the state directory (as the
// postgres user: PostgreSQL refuses root) that accepts the sandbox's
// subnet with a password over TLS only (hostssl, like RDS with TLS forced).
// Its certificate, for the database host's address, comes from a CA made
// for this sandbox (internal/devca), whose certificate s.dbCAFile the
// application servers verify against.
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
	fmt.Fprintf(hba, "hostssl all all %s scram-sha-256\n", s.Config.Subnet)
	hba.Close()
	ca, err := devca.New("webstack sandbox database CA")
	if err != nil {
		return err
	}
	cert, key, err := ca.Issue(h.IP)
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	for path, content := range map[string][]byte{certFile: cert, keyFile: key} {
		if err := write(path, string(content), 0o600); err != nil {
			return err
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	s.dbCAFile = filepath.Join(dir, "ca.pem")
	if err := write(s.dbCAFile, string(ca.CertPEM()), 0o644); err != nil {
		return err
	}
	s.add(&daemon{
		id: h.Name + "/postgres", host: h, stop: syscall.SIGINT, // fast shutdown
		argv: append(asPostgres, filepath.Join(bin, "postgres"), "-D", data,
			"-c", "listen_addresses="+h.IP, "-c", fmt.Sprintf("port=%d", DBPort), "-c", "unix_socket_directories="+sock,
			"-c", "max_connections=200",
			"-c", "ssl=on", "-c", "ssl_cert_file="+certFile, "-c", "ssl_key_file="+keyFile,
			"-c", "ssl_min_protocol_version=TLSv1.2"),
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
