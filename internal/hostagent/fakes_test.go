package hostagent

import (
	"context"
	"errors"
	"fmt"
	"github.com/foobar/webstack/internal/testtools"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// selfID and selfIP are the instance the agent runs on in the tests.
const (
	selfID = "i-0self"
	selfIP = "10.0.1.10"
)

// call is one call of a mutating AWS API.
type call struct{ API, Group, Hook, Instance, Arg string }

func (c call) String() string {
	return strings.Join(slices.DeleteFunc([]string{c.API, c.Group, c.Hook, c.Instance, c.Arg}, func(s string) bool { return s == "" }), " ")
}

// fakeAWS implements awsapi.AutoScaling, awsapi.EC2 and
// awsapi.InstanceMetadata in memory.
type fakeAWS struct {
	mu        sync.Mutex
	groups    map[string][]awsapi.GroupInstance
	ips       map[string]string // private IP by instance id
	target    string
	groupErr  error
	ec2Err    error
	mdErr     error
	targetErr error
	// completeErr, if set, answers CompleteLifecycleAction.
	completeErr func(hook, result string) error
	healthErr   error
	calls       []call
	describes   int // DescribeGroup calls
}

func newFakeAWS() *fakeAWS {
	return &fakeAWS{
		groups: map[string][]awsapi.GroupInstance{},
		ips:    map[string]string{selfID: selfIP},
		target: awsapi.InService,
	}
}

// set makes group hold these instances, given as "id ip [state [health]]"
// (default InService, Healthy).
func (f *fakeAWS) set(group string, instances ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[group] = nil
	for _, s := range instances {
		w := strings.Fields(s)
		in := awsapi.GroupInstance{InstanceID: w[0], LifecycleState: awsapi.InService, HealthStatus: awsapi.Healthy}
		f.ips[w[0]] = w[1]
		if len(w) > 2 {
			in.LifecycleState = w[2]
		}
		if len(w) > 3 {
			in.HealthStatus = w[3]
		}
		f.groups[group] = append(f.groups[group], in)
	}
}

func (f *fakeAWS) with(fn func(f *fakeAWS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// made returns the calls made so far, as strings.
func (f *fakeAWS) made() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, c := range f.calls {
		s = append(s, c.String())
	}
	return s
}

func (f *fakeAWS) DescribeGroup(_ context.Context, name string) (awsapi.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	if f.groupErr != nil {
		return awsapi.Group{}, f.groupErr
	}
	ins, ok := f.groups[name]
	if !ok {
		return awsapi.Group{}, &awsapi.APIError{Code: "ValidationError", Message: "AutoScalingGroup name not found - " + name, StatusCode: 400}
	}
	return awsapi.Group{Name: name, Instances: slices.Clone(ins)}, nil
}

func (f *fakeAWS) CompleteLifecycleAction(_ context.Context, group, hook, id, result string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{"CompleteLifecycleAction", group, hook, id, result})
	if f.completeErr != nil {
		return f.completeErr(hook, result)
	}
	return nil
}

func (f *fakeAWS) RecordLifecycleActionHeartbeat(_ context.Context, group, hook, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{"RecordLifecycleActionHeartbeat", group, hook, id, ""})
	return nil
}

func (f *fakeAWS) SetInstanceHealth(_ context.Context, id, status string, respect bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{"SetInstanceHealth", "", "", id, fmt.Sprintf("%s %v", status, respect)})
	return f.healthErr
}

func (f *fakeAWS) SetDesiredCapacity(context.Context, string, int) error {
	return errors.New("the agent must not scale groups")
}

func (f *fakeAWS) StartInstanceRefresh(context.Context, string, int, int) (string, error) {
	return "", errors.New("the agent must not start refreshes")
}

func (f *fakeAWS) DescribeInstanceRefreshes(context.Context, string) ([]awsapi.InstanceRefresh, error) {
	return nil, errors.New("the agent has no use for refreshes")
}

func (f *fakeAWS) DescribeInstances(_ context.Context, ids []string) ([]awsapi.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ec2Err != nil {
		return nil, f.ec2Err
	}
	var out []awsapi.Instance
	for _, id := range ids {
		ip, ok := f.ips[id]
		if !ok {
			return nil, &awsapi.APIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID '" + id + "' does not exist", StatusCode: 400}
		}
		out = append(out, awsapi.Instance{InstanceID: id, PrivateIP: ip, State: "running"})
	}
	return out, nil
}

func (f *fakeAWS) InstanceID(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return selfID, f.mdErr
}

func (f *fakeAWS) AvailabilityZone(context.Context) (string, error) { return "eu-west-1a", nil }

func (f *fakeAWS) TargetLifecycleState(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.target, f.targetErr
}

// noActive is the Auto Scaling API's answer for a hook not waiting.
var noActive = &awsapi.APIError{Code: "ValidationError", Message: "No active Lifecycle Action found with instance ID " + selfID, StatusCode: 400}

// fakeRunner records commands and answers them by program name.
type fakeRunner struct {
	mu   sync.Mutex
	ran  []string
	fail map[string]string // program → output of a failure
	// also, if set, runs first (e.g. to look at a file being checked).
	also func(argv []string)
}

func (r *fakeRunner) run(_ context.Context, argv []string) ([]byte, error) {
	r.mu.Lock()
	r.ran = append(r.ran, strings.Join(argv, " "))
	out, failing := r.fail[argv[0]]
	also := r.also
	r.mu.Unlock()
	if also != nil {
		also(argv)
	}
	if failing {
		return []byte(out), errors.New("exit status 1")
	}
	return []byte("ok\n"), nil
}

// take returns and forgets the commands run so far.
func (r *fakeRunner) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ran := r.ran
	r.ran = nil
	return ran
}

func (r *fakeRunner) failing(program, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail == nil {
		r.fail = map[string]string{}
	}
	if output == "" {
		delete(r.fail, program)
		return
	}
	r.fail[program] = output
}

// fakeClock is a clock tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeProc serves /proc/net/tcp and tcp6 tables.
type fakeProc struct {
	mu          sync.Mutex
	tcp, tcp6   string
	reads       int
	unavailable bool
}

const procHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// established sets n ESTABLISHED connections to local port port (IPv4),
// besides a listener and connections that must not count.
func (p *fakeProc) established(port, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	b.WriteString(procHeader)
	fmt.Fprintf(&b, "   0: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0000000000000000 100 0 0 10 0\n", port)
	for i := range n {
		fmt.Fprintf(&b, "%4d: 0A00010A:%04X 0A00020A:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n", i+1, port, 40000+i, 2000+i)
	}
	// Outgoing to port on another host, and a connection in TIME_WAIT.
	fmt.Fprintf(&b, "  90: 0A00010A:9C40 0A00030A:%04X 01 00000000:00000000 00:00000000 00000000     0        0 3000 1 0000000000000000 20 4 30 10 -1\n", port)
	fmt.Fprintf(&b, "  91: 0A00010A:%04X 0A00020A:9C41 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000\n", port)
	p.tcp = b.String()
	p.tcp6 = procHeader
}

func (p *fakeProc) read(path string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads++
	if p.unavailable {
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrPermission}
	}
	switch path {
	case "/proc/net/tcp":
		return []byte(p.tcp), nil
	case "/proc/net/tcp6":
		return []byte(p.tcp6), nil
	}
	return nil, os.ErrNotExist
}

// service is the host's own service: Ready.URL and Health.URL answer
// their status.
type service struct {
	srv           *httptest.Server
	ready, health atomic.Int32
	hits          atomic.Int64
}

func newService(t *testing.T) *service {
	s := &service{}
	s.ready.Store(http.StatusServiceUnavailable)
	s.health.Store(http.StatusOK)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		switch r.URL.Path {
		case "/ready":
			w.WriteHeader(int(s.ready.Load()))
		case "/health":
			w.WriteHeader(int(s.health.Load()))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// harness is an agent with fakes around it.
type harness struct {
	t     *testing.T
	dir   string
	cfg   Config
	aws   *fakeAWS
	run   *fakeRunner
	clock *fakeClock
	proc  *fakeProc
	svc   *service
	logs  *testtools.Buffer
	agent *Agent
}

// testConfig is an app-tier-like agent in front of one group ("app-asg"),
// rendering nginx's servers file; every path is under dir.
func testConfig(dir, url string) Config {
	return Config{
		Region: "eu-west-1", Tier: "web", Group: "web-asg", LaunchHook: "launch", TerminateHook: "terminate",
		Interval: Duration(2 * time.Second),
		StateDir: filepath.Join(dir, "state"),
		Ready: Ready{
			Marker:  filepath.Join(dir, "applied"),
			URL:     url + "/ready",
			Timeout: Duration(10 * time.Minute),
			Then:    [][]string{{"then-cmd", "start"}},
		},
		Health: Health{URL: url + "/health", Failures: 3, Timeout: Duration(time.Second)},
		Drain: Drain{
			Before:  [][]string{{"before-cmd"}},
			Port:    8080,
			Quiet:   Duration(10 * time.Second),
			Timeout: Duration(2 * time.Minute),
			After:   [][]string{{"after-cmd"}},
		},
		Discover: []Discovery{{
			Name: "app servers", Group: "app-asg", Port: 8080, Render: RenderNginxServers,
			Path: filepath.Join(dir, "servers.conf"), Check: []string{"check-cmd"}, Reload: []string{"reload-cmd"},
		}},
	}
}

// newHarness builds the agent for cfg (testConfig if edit is nil, else
// testConfig changed by edit).
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		dir:   t.TempDir(),
		aws:   newFakeAWS(),
		run:   &fakeRunner{},
		clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		proc:  &fakeProc{},
		svc:   newService(t),
		logs:  &testtools.Buffer{},
	}
	h.proc.established(8080, 0)
	h.cfg = testConfig(h.dir, h.svc.srv.URL)
	if edit != nil {
		edit(&h.cfg)
	}
	if err := h.cfg.Validate(); err != nil {
		t.Fatalf("the test's configuration is invalid: %v", err)
	}
	h.agent = h.newAgent()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", h.logs)
		}
	})
	return h
}

// newAgent builds another agent on the same fakes (an agent restart).
func (h *harness) newAgent() *Agent {
	return New(h.cfg, h.aws, h.aws, h.aws,
		WithClock(h.clock.now), WithRunner(h.run.run), WithProcNet(h.proc.read),
		WithHTTPClient(h.svc.srv.Client()), WithLogger(log.New(h.logs, "agent: ", 0)))
}

// rounds runs n rounds, the clock moving by the interval after each.
func (h *harness) rounds(n int) {
	h.t.Helper()
	for range n {
		h.agent.round(context.Background())
		h.clock.advance(h.cfg.Interval.D())
	}
}

// ready makes every readiness condition hold: the marker, an application
// server to discover, Ready.URL answering 200.
func (h *harness) ready() {
	h.t.Helper()
	if err := os.WriteFile(h.cfg.Ready.Marker, nil, 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.aws.set("app-asg", "i-0app1 10.0.4.10")
	h.svc.ready.Store(http.StatusOK)
}

// launched brings the agent past its launch: ready, hook completed.
func (h *harness) launched() {
	h.t.Helper()
	h.ready()
	h.rounds(1)
	if !h.agent.launch.done {
		h.t.Fatalf("the launch hook was not completed; calls %v", h.aws.made())
	}
	h.run.take()
	h.aws.with(func(f *fakeAWS) { f.calls = nil })
}

// file reads a file, "" if missing.
func (h *harness) file(path string) string {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	return string(b)
}

// logCount counts the log lines containing s.
func (h *harness) logCount(s string) int {
	n := 0
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// wantCalls checks the mutating AWS calls made so far.
func (h *harness) wantCalls(want ...string) {
	h.t.Helper()
	if got := h.aws.made(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("AWS calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// wantRan checks (and forgets) the commands run since the last check.
func (h *harness) wantRan(want ...string) {
	h.t.Helper()
	if got := h.run.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("commands run:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
