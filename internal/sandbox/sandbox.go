package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/internal/asg"
	"github.com/foobar/webstack/internal/awsapi"
	"github.com/foobar/webstack/internal/fakeaws"
)

// APIPort is where the fake AWS APIs (Auto Scaling, EC2 and the instance
// metadata service) listen, on the bridge's address.
const APIPort = 8585

// Sandbox is a running sandbox.
type Sandbox struct {
	Config   Config
	Topology Topology
	// Release is the application binary the application servers run,
	// Agent the agent every group host runs.
	Release, Agent release.Artifact
	// Cloud is the groups' model: the sandbox's EC2 Auto Scaling.
	Cloud *asg.Cloud

	api       *http.Server
	stopCloud context.CancelFunc
	cloudDone chan struct{}
	secrets   secrets
	// dbCAFile is the certificate of the CA that signed the database's
	// certificate (written by database), for the application servers.
	dbCAFile string

	mu      sync.Mutex
	daemons map[string]*daemon // by id: lb1/haproxy, web3/nginx, app2/app, web3/agent, db/postgres
	hosts   map[string]*Host   // group hosts by instance id
	names   map[string]int     // the last host number of each tier
	dead    map[string]bool    // instance ids whose host died (EC2 status check)
	faults  map[string]Fault   // tier → what goes wrong on its next launches
	lock    *os.File           // held while the sandbox runs (owner.go)
}

// secrets are the sandbox's generated passwords.
type secrets struct{ stats, vrrp, db string }

// daemon is one process the sandbox runs, and how to (re)start it.
type daemon struct {
	id    string
	host  Host
	argv  []string
	env   []string
	stop  syscall.Signal
	log   string
	pid   string // a file to write the process's pid into, or ""
	cmd   *exec.Cmd
	done  chan struct{}
	ready func(context.Context) error
}

// Up builds the sandbox: the bridge, the database and the client, the
// fake AWS APIs and the three groups, whose hosts launch, discover each
// other and get ready as on AWS. It returns once every group has its
// desired hosts in service and the site answers through the virtual IP
// with a page from the database. On error everything created is removed
// again.
func Up(ctx context.Context, cfg Config) (_ *Sandbox, err error) {
	cfg = cfg.withDefaults()
	topo, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	held, err := lock(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			held.Close()
		}
	}()
	if err := refuseForeign(cfg); err != nil {
		return nil, err
	}
	if err := Check(); err != nil {
		return nil, err
	}
	if left := Leftovers(cfg); len(left) > 0 {
		cfg.Logf("removing what an earlier sandbox left: %s", strings.Join(left, ", "))
		if err := teardown(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.ModuleDir == "" {
		if cfg.ModuleDir, err = release.ModuleRoot(); err != nil {
			return nil, err
		}
	}
	s := &Sandbox{
		Config: cfg, Topology: topo, daemons: map[string]*daemon{}, hosts: map[string]*Host{},
		names: map[string]int{}, dead: map[string]bool{}, faults: map[string]Fault{},
		secrets: secrets{stats: secret(24), vrrp: secret(8), db: secret(24)}, lock: held,
	}
	defer func() {
		if err != nil {
			s.Down()
		}
	}()

	cfg.Logf("building the application and the agent")
	if s.Release, s.Agent, err = prepare(cfg); err != nil {
		return nil, err
	}
	if err := markStateDir(cfg); err != nil {
		return nil, err
	}
	cfg.Logf("creating bridge %s (%s), the database and the client", topo.Bridge, cfg.Subnet)
	if err := network(topo); err != nil {
		return nil, err
	}
	db, _ := topo.Host("db")
	if err := s.database(db, s.secrets.db); err != nil {
		return nil, err
	}
	if err := s.Start(ctx, "db/postgres"); err != nil {
		return nil, err
	}

	// The fake AWS APIs on the bridge, for the hosts' agents.
	lis, err := net.Listen("tcp", fmt.Sprintf("%s:%d", topo.Gateway, APIPort))
	if err != nil {
		return nil, fmt.Errorf("sandbox: the fake AWS APIs: %w", err)
	}
	s.Cloud = asg.New(s, asg.WithInterval(50*time.Millisecond), asg.WithEventHandler(s.event))
	s.api = &http.Server{Handler: fakeaws.Handler(s.Cloud), ReadHeaderTimeout: 5 * time.Second}
	go s.api.Serve(lis)
	for _, tier := range []string{"app", "web", "lb"} {
		if err := s.Cloud.AddGroup(s.groupConfig(tier)); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.stopCloud, s.cloudDone = cancel, make(chan struct{})
	go func() { s.Cloud.Run(runCtx); close(s.cloudDone) }()

	cfg.Logf("launching the groups: %d application servers, %d web servers, 2 load balancers", cfg.App, cfg.Web)
	for _, tier := range []string{"app", "web", "lb"} {
		if err := s.WaitStable(ctx, tier, 90*time.Second); err != nil {
			return nil, err
		}
	}
	cfg.Logf("waiting for http://%s/ to answer through the whole chain", topo.VIP)
	if err := s.WaitPage(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// Prepare builds the default application and the agent for this machine,
// exactly as pulumi up builds them for the hosts (release.Build, cached in
// .build/).
func Prepare(cfg Config) (app, agent release.Artifact, err error) { return prepare(cfg) }

func prepare(cfg Config) (app, agent release.Artifact, err error) {
	if cfg.ModuleDir == "" {
		if cfg.ModuleDir, err = release.ModuleRoot(); err != nil {
			return app, agent, err
		}
	}
	arch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[goarch()]
	if app, err = release.Build(release.BuildArgs{ModuleDir: cfg.ModuleDir, Package: "./app", Arch: arch}); err != nil {
		return app, agent, err
	}
	agent, err = release.Build(release.BuildArgs{ModuleDir: cfg.ModuleDir, Package: "./agent", Arch: arch})
	return app, agent, err
}

// Down stops the groups' model, every daemon and removes everything the
// sandbox created.
func (s *Sandbox) Down() error {
	if s.stopCloud != nil {
		s.stopCloud()
		<-s.cloudDone
	}
	if s.api != nil {
		s.api.Close()
	}
	for _, id := range s.IDs() {
		s.Stop(id)
	}
	err := teardown(s.Config)
	if s.lock != nil {
		s.lock.Close() // another sandbox of this name may start now
		s.lock = nil
	}
	return err
}

// Intact reports whether what the sandbox runs on is still there: its
// bridge and its state directory (sandbox down from another terminal
// removes them).
func (s *Sandbox) Intact() bool {
	_, err := os.Stat(filepath.Join(s.Config.StateDir, ownerFile))
	return err == nil && aliasOf("", s.Topology.Bridge) == s.Config.owner()
}

// Down removes what a sandbox of this name left behind, running or
// crashed: a running one (in another process) is asked to tear itself
// down first, and given a minute. Only what carries the sandbox's mark
// is removed.
func Down(cfg Config) error {
	cfg = cfg.withDefaults()
	if err := stopRunning(cfg, time.Minute); err != nil {
		return err
	}
	return teardown(cfg)
}

// IDs lists the daemons (lb1/haproxy, web3/agent, …), sorted.
func (s *Sandbox) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.daemons {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Start starts a daemon (again) and waits until it is ready.
func (s *Sandbox) Start(ctx context.Context, id string) error {
	s.mu.Lock()
	d, ok := s.daemons[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("sandbox: no daemon %s", id)
	}
	if d.cmd != nil {
		select {
		case <-d.done:
		default:
			return fmt.Errorf("sandbox: %s is already running", id)
		}
	}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	argv := append([]string{}, d.argv...)
	argv[0] = path(argv[0])
	// ip netns exec execs the command: the process keeps ip's pid.
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.host.NS()}, argv...)...)
	cmd.Env = append(cleanEnv(), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("sandbox: starting %s: %w", id, err)
	}
	if d.pid != "" {
		os.WriteFile(d.pid, []byte(fmt.Sprintln(cmd.Process.Pid)), 0o644)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	d.cmd, d.done = cmd, done
	s.mu.Unlock()
	if d.ready == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		err := d.ready(rctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("sandbox: %s exited while starting; its log %s ends:\n%s", id, d.log, tail(d.log, 20))
		case <-rctx.Done():
			return fmt.Errorf("sandbox: %s not ready: %v; its log %s ends:\n%s", id, err, d.log, tail(d.log, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cleanEnv is this process's environment without AWS credentials and
// endpoints: the hosts' agents get theirs from the fake instance metadata
// service, as on EC2.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// Stop stops a daemon with its stop signal and waits for it to exit (then
// kills its process group if it lingers).
func (s *Sandbox) Stop(id string) error {
	s.mu.Lock()
	d, ok := s.daemons[id]
	s.mu.Unlock()
	if !ok || d.cmd == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
	}
	syscall.Kill(d.cmd.Process.Pid, d.stop)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	return nil
}

// Kill stops a daemon abruptly (SIGKILL to its process group: nginx's
// master and workers, say), as if it crashed.
func (s *Sandbox) Kill(id string) error {
	s.mu.Lock()
	d, ok := s.daemons[id]
	s.mu.Unlock()
	if !ok || d.cmd == nil {
		return fmt.Errorf("sandbox: no running daemon %s", id)
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	return nil
}

// Running reports whether a daemon runs.
func (s *Sandbox) Running(id string) bool {
	s.mu.Lock()
	d, ok := s.daemons[id]
	s.mu.Unlock()
	if !ok || d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Log returns the end of a daemon's log.
func (s *Sandbox) Log(id string, lines int) string {
	s.mu.Lock()
	d, ok := s.daemons[id]
	s.mu.Unlock()
	if !ok {
		return ""
	}
	return tail(d.log, lines)
}

// Client is an HTTP client whose connections start in the client
// namespace, like a user on the internet. Each request uses a new
// connection unless keepAlive is set.
func (s *Sandbox) Client(keepAlive bool, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         DialContext(s.client().NS()),
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 256,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// URL is the site's address: the virtual IP.
func (s *Sandbox) URL() string { return "http://" + s.Topology.VIP + "/" }

// WaitPage waits until the site's page answers through the virtual IP with
// data from the database.
func (s *Sandbox) WaitPage(ctx context.Context, timeout time.Duration) error {
	c := s.Client(false, 2*time.Second)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
		req.Host = s.Config.SiteName
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "visit") {
				return nil
			}
			last = fmt.Sprintf("HTTP %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("sandbox: %s did not serve the page within %s (last: %s)", s.URL(), timeout, last)
}

// Master returns the load balancer holding the virtual IP, or "".
func (s *Sandbox) Master() string {
	for _, h := range s.Hosts("lb") {
		out, _ := exec.Command("ip", "-n", h.NS(), "-o", "addr", "show", "dev", "eth0").Output()
		if strings.Contains(string(out), " "+s.Topology.VIP+"/") {
			return h.Name
		}
	}
	return ""
}

// InClient runs a command in the client namespace (curl, wrk).
func (s *Sandbox) InClient(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", s.client().NS()}, args...)...)
}

func (s *Sandbox) client() Host {
	h, _ := s.Topology.Host("client")
	return h
}

// HostDir is a host's directory in the state directory.
func (s *Sandbox) HostDir(host string) string { return filepath.Join(s.Config.StateDir, host) }

// Hosts are a group's hosts that run now (launching, in service or
// leaving), sorted by name; fixed hosts for "db" and "client".
func (s *Sandbox) Hosts(tier string) []Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Host
	for _, h := range s.hosts {
		if h.Tier == tier {
			out = append(out, *h)
		}
	}
	for _, h := range s.Topology.Fixed {
		if h.Tier == tier {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return hostLess(out[i].Name, out[j].Name) })
	return out
}

// hostLess orders web2 before web10.
func hostLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// InService are the hosts of a group in service, by name.
func (s *Sandbox) InService(tier string) []Host {
	in := map[string]bool{}
	for _, i := range s.Cloud.Instances(GroupName(s.Config, tier)) {
		if i.LifecycleState == awsapi.InService && i.HealthStatus == awsapi.Healthy {
			in[i.InstanceID] = true
		}
	}
	var out []Host
	for _, h := range s.Hosts(tier) {
		if in[h.InstanceID] {
			out = append(out, h)
		}
	}
	return out
}

// WaitStable waits until a group has exactly its desired capacity in
// service and healthy, and no other host (none launching or leaving).
func (s *Sandbox) WaitStable(ctx context.Context, tier string, timeout time.Duration) error {
	group := GroupName(s.Config, tier)
	deadline := time.Now().Add(timeout)
	var state string
	for time.Now().Before(deadline) {
		g, err := s.Cloud.DescribeGroup(ctx, group)
		if err != nil {
			return err
		}
		var states []string
		ok := 0
		for _, i := range g.Instances {
			states = append(states, i.LifecycleState+"/"+i.HealthStatus)
			if i.LifecycleState == awsapi.InService && i.HealthStatus == awsapi.Healthy {
				ok++
			}
		}
		if ok == g.DesiredCapacity && len(g.Instances) == ok {
			return nil
		}
		state = fmt.Sprintf("desired %d, instances %v", g.DesiredCapacity, states)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("sandbox: group %s not stable within %s (%s); recent events:\n%s", group, timeout, state, s.recentEvents(group, 15))
}

// recentEvents are a group's last events, for error messages.
func (s *Sandbox) recentEvents(group string, n int) string {
	var lines []string
	for _, e := range s.Cloud.Events() {
		if e.Group == group {
			lines = append(lines, "  "+e.String())
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// event reports what the groups do.
func (s *Sandbox) event(e asg.Event) {
	name := e.InstanceID
	s.mu.Lock()
	if h, ok := s.hosts[e.InstanceID]; ok {
		name = h.Name + " (" + e.InstanceID + ")"
	}
	s.mu.Unlock()
	s.Config.Logf("%s: %s %s %s", strings.TrimPrefix(e.Group, s.Config.Name+"-"), name, e.Kind, e.Detail)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// secret returns n random alphanumeric characters.
func secret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

var errNoHost = errors.New("sandbox: no such host")
