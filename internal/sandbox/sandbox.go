package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
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
)

// Sandbox is a running sandbox.
type Sandbox struct {
	Config   Config
	Topology Topology
	// Release is the application binary the app hosts run.
	Release release.Artifact

	mu      sync.Mutex
	daemons map[string]*daemon // by id: lb1/haproxy, web1/nginx, app1/app, db/postgres
}

// daemon is one process the sandbox runs, and how to (re)start it.
type daemon struct {
	id    string
	host  Host
	argv  []string
	env   []string
	stop  syscall.Signal
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
	ready func(context.Context) error
}

// Up builds the sandbox: namespaces, bridge, files, daemons. It returns
// once the site answers through the virtual IP with a page from the
// database. On error everything created is removed again.
func Up(ctx context.Context, cfg Config) (_ *Sandbox, err error) {
	cfg = cfg.withDefaults()
	topo, err := Plan(cfg)
	if err != nil {
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
	s := &Sandbox{Config: cfg, Topology: topo, daemons: map[string]*daemon{}}
	defer func() {
		if err != nil {
			s.Down()
		}
	}()

	cfg.Logf("building the application")
	if s.Release, err = Prepare(cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	cfg.Logf("creating %d namespaces on bridge %s (%s)", len(topo.Hosts), topo.Bridge, cfg.Subnet)
	if err := network(topo); err != nil {
		return nil, err
	}
	if err := s.render(); err != nil {
		return nil, err
	}
	// Start from the back of the diagram, so each tier finds the next one.
	var order []string
	for _, tier := range []string{"db", "app", "web", "lb"} {
		for _, h := range topo.Tier(tier) {
			order = append(order, s.idsOf(h.Name)...)
		}
	}
	for _, id := range order {
		if err := s.Start(ctx, id); err != nil {
			return nil, err
		}
	}
	cfg.Logf("waiting for http://%s/ to answer through the whole chain", topo.VIP)
	if err := s.WaitPage(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// Prepare builds the default application for this machine, exactly as
// pulumi up builds it for the hosts (release.Build, cached in .build/).
func Prepare(cfg Config) (release.Artifact, error) {
	if cfg.ModuleDir == "" {
		dir, err := release.ModuleRoot()
		if err != nil {
			return release.Artifact{}, err
		}
		cfg.ModuleDir = dir
	}
	arch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[goarch()]
	return release.Build(release.BuildArgs{ModuleDir: cfg.ModuleDir, Package: "./app", Arch: arch})
}

// Down stops every daemon and removes everything the sandbox created.
func (s *Sandbox) Down() error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.daemons))
	for id := range s.daemons {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	for _, id := range ids {
		s.Stop(id)
	}
	return teardown(s.Config)
}

// Down removes what any sandbox with this state directory left behind,
// running or crashed.
func Down(cfg Config) error {
	return teardown(cfg.withDefaults())
}

// IDs lists the daemons (lb1/haproxy, lb1/keepalived, …), sorted.
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

func (s *Sandbox) idsOf(host string) []string {
	var ids []string
	for _, id := range s.IDs() {
		if strings.HasPrefix(id, host+"/") {
			ids = append(ids, id)
		}
	}
	// HAProxy before keepalived: a node must serve before it may win.
	sort.Slice(ids, func(i, j int) bool {
		return strings.Contains(ids[i], "haproxy") && !strings.Contains(ids[j], "haproxy")
	})
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
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.host.NS()}, argv...)...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("sandbox: starting %s: %w", id, err)
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

// Kill stops a daemon abruptly (SIGKILL), as if its host died.
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
	for _, h := range s.Topology.Tier("lb") {
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
