package asg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
	"github.com/foobar/webstack/internal/fakeaws"
)

// fakeLauncher records calls; it can be told to fail launches, to delay
// them, and that hosts are dead.
type fakeLauncher struct {
	mu         sync.Mutex
	calls      []string // "launch i-…", "terminate i-…"
	live       map[string]bool
	dead       map[string]bool
	failNext   int           // this many next launches fail
	failTmpl   string        // launches of this template fail
	delay      time.Duration // of every launch
	launching  int           // Launch calls running
	overlap    bool          // a host was terminated twice
	terminated map[string]bool
}

func newFake() *fakeLauncher {
	return &fakeLauncher{live: map[string]bool{}, dead: map[string]bool{}, terminated: map[string]bool{}}
}

func (f *fakeLauncher) Launch(ctx context.Context, h Host) error {
	f.mu.Lock()
	f.calls = append(f.calls, "launch "+h.InstanceID)
	f.launching++
	delay := f.delay
	fail := f.failNext > 0 || (f.failTmpl != "" && f.failTmpl == h.Template)
	if f.failNext > 0 {
		f.failNext--
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.launching--
		f.mu.Unlock()
	}()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("boom")
	}
	f.mu.Lock()
	f.live[h.InstanceID] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeLauncher) Terminate(ctx context.Context, h Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "terminate "+h.InstanceID)
	if f.terminated[h.InstanceID] {
		f.overlap = true // terminated twice
	}
	f.terminated[h.InstanceID] = true
	delete(f.live, h.InstanceID)
	return nil
}

func (f *fakeLauncher) Alive(h Host) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.dead[h.InstanceID]
}

func (f *fakeLauncher) kill(id string) {
	f.mu.Lock()
	f.dead[id] = true
	f.mu.Unlock()
}

func (f *fakeLauncher) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

const (
	launchHook    = "launching"
	terminateHook = "terminating"
)

// baseConfig is a group of 2 over 2 zones with both hooks and long
// timeouts.
func baseConfig() GroupConfig {
	return GroupConfig{
		Name:            "web",
		Role:            "web-role",
		Zones:           []string{"za", "zb"},
		Addresses:       map[string][]string{"za": {"10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"}, "zb": {"10.0.2.10", "10.0.2.11", "10.0.2.12", "10.0.2.13"}},
		MinSize:         0,
		MaxSize:         4,
		DesiredCapacity: 2,
		Template:        "v1",
		LaunchHook:      launchHook,
		TerminateHook:   terminateHook,
	}
}

type env struct {
	t    *testing.T
	c    *Cloud
	f    *fakeLauncher
	ctx  context.Context
	stop func()
}

// start runs a Cloud with the group cfg until the test ends.
func start(t *testing.T, f *fakeLauncher, cfgs ...GroupConfig) *env {
	t.Helper()
	c := New(f, WithInterval(10*time.Millisecond))
	for _, cfg := range cfgs {
		if err := c.AddGroup(cfg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return &env{t: t, c: c, f: f, ctx: ctx, stop: stop}
}

// waitFor polls cond until it holds, failing the test after d.
func (e *env) waitFor(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; instances %v\nevents:\n%s", what, e.c.Instances("web"), e.eventLog())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) eventLog() string {
	var b strings.Builder
	for _, ev := range e.c.Events() {
		b.WriteString(ev.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// inState returns the instances of group web in state, oldest first.
func (e *env) inState(state string) []InstanceInfo {
	var out []InstanceInfo
	for _, in := range e.c.Instances("web") {
		if in.LifecycleState == state {
			out = append(out, in)
		}
	}
	return out
}

func (e *env) nInState(state string, n int) func() bool {
	return func() bool { return len(e.inState(state)) == n }
}

// complete completes the launch or terminate hook of one instance.
func (e *env) complete(hook, id, result string) {
	e.t.Helper()
	if err := e.c.CompleteLifecycleAction(context.Background(), "web", hook, id, result); err != nil {
		e.t.Fatalf("complete %s %s %s: %v", hook, id, result, err)
	}
}

// agent completes hooks like the host agent would: decide says what to
// answer to a launching instance ("" = nothing yet); terminating instances
// are let go at once. It runs until the test ends or stop is called.
func (e *env) agent(decide func(in InstanceInfo) string) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, in := range e.c.Instances("web") {
				switch in.LifecycleState {
				case awsapi.PendingWait:
					if r := decide(in); r != "" {
						_ = e.c.CompleteLifecycleAction(e.ctx, "web", launchHook, in.InstanceID, r)
					}
				case awsapi.TerminatingWait:
					_ = e.c.CompleteLifecycleAction(e.ctx, "web", terminateHook, in.InstanceID, awsapi.Continue)
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func continueAll(InstanceInfo) string { return awsapi.Continue }

// eventIndex returns the position of the first event of kind (for
// instance id, if not "") in events, or -1.
func eventIndex(events []Event, kind, id string) int {
	for i, ev := range events {
		if ev.Kind == kind && (id == "" || ev.InstanceID == id) {
			return i
		}
	}
	return -1
}

func ids(ins []InstanceInfo) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.InstanceID)
	}
	return out
}

func isAPIError(err error, code string) bool {
	var ae *awsapi.APIError
	return errors.As(err, &ae) && ae.Code == code && ae.StatusCode == 400
}

func TestLaunchHookContinue(t *testing.T) {
	e := start(t, newFake(), baseConfig())
	e.waitFor(time.Second, "two instances in Pending:Wait", e.nInState(awsapi.PendingWait, 2))
	e.waitFor(time.Second, "two launches", func() bool { return e.f.count("launch") == 2 })

	ins := e.inState(awsapi.PendingWait)
	if ins[0].AvailabilityZone == ins[1].AvailabilityZone {
		t.Errorf("both instances in %s; want one per zone", ins[0].AvailabilityZone)
	}
	for _, in := range ins {
		if len(in.InstanceID) != 2+17 || !strings.HasPrefix(in.InstanceID, "i-") {
			t.Errorf("instance id %q is not i- and 17 hex digits", in.InstanceID)
		}
		id, ok := e.c.Identify(in.PrivateIP)
		if !ok || id.InstanceID != in.InstanceID || id.TargetLifecycleState != awsapi.InService || id.Role != "web-role" || id.AvailabilityZone != in.AvailabilityZone {
			t.Errorf("Identify(%s) = %+v, %v", in.PrivateIP, id, ok)
		}
	}
	// The group waits: still Pending:Wait a while later.
	time.Sleep(50 * time.Millisecond)
	if n := len(e.inState(awsapi.PendingWait)); n != 2 {
		t.Fatalf("%d instances in Pending:Wait without CONTINUE, want 2", n)
	}
	// The wrong hook, or an instance not waiting, is a ValidationError.
	err := e.c.CompleteLifecycleAction(context.Background(), "web", terminateHook, ins[0].InstanceID, awsapi.Continue)
	want := "No active Lifecycle Action found with instance ID " + ins[0].InstanceID
	if !isAPIError(err, "ValidationError") || err.(*awsapi.APIError).Message != want {
		t.Errorf("complete with the terminate hook: %v, want ValidationError %q", err, want)
	}
	if err := e.c.RecordLifecycleActionHeartbeat(context.Background(), "web", launchHook, ins[0].InstanceID); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	for _, in := range ins {
		e.complete(launchHook, in.InstanceID, awsapi.Continue)
	}
	e.waitFor(time.Second, "two instances InService", e.nInState(awsapi.InService, 2))
	err = e.c.CompleteLifecycleAction(context.Background(), "web", launchHook, ins[0].InstanceID, awsapi.Continue)
	if !isAPIError(err, "ValidationError") || !strings.Contains(err.Error(), want) {
		t.Errorf("second CONTINUE: %v, want ValidationError %q", err, want)
	}
	if err := e.c.CompleteLifecycleAction(context.Background(), "web", launchHook, "i-00000000000000099", awsapi.Continue); !isAPIError(err, "ValidationError") {
		t.Errorf("unknown instance: %v, want ValidationError", err)
	}
	if err := e.c.CompleteLifecycleAction(context.Background(), "nope", launchHook, ins[0].InstanceID, awsapi.Continue); !isAPIError(err, "ValidationError") {
		t.Errorf("unknown group: %v, want ValidationError", err)
	}

	g, err := e.c.DescribeGroup(context.Background(), "web")
	if err != nil || g.DesiredCapacity != 2 || len(g.Instances) != 2 || g.Instances[0].LifecycleState != awsapi.InService ||
		g.Instances[0].HealthStatus != awsapi.Healthy || g.Instances[0].LaunchTemplateVersion != "v1" {
		t.Errorf("DescribeGroup = %+v, %v", g, err)
	}
	if _, err := e.c.DescribeGroup(context.Background(), "nope"); !isAPIError(err, "ValidationError") {
		t.Errorf("DescribeGroup(nope): %v", err)
	}
	got, err := e.c.DescribeInstances(context.Background(), ids(ins))
	if err != nil || len(got) != 2 || got[0].State != "running" || got[0].PrivateIP != ins[0].PrivateIP || got[0].AvailabilityZone != ins[0].AvailabilityZone {
		t.Errorf("DescribeInstances = %+v, %v", got, err)
	}
	_, err = e.c.DescribeInstances(context.Background(), []string{ins[0].InstanceID, "i-0000000000000dead"})
	if !isAPIError(err, "InvalidInstanceID.NotFound") || !strings.Contains(err.Error(), "i-0000000000000dead") {
		t.Errorf("DescribeInstances(unknown) = %v", err)
	}

	// The order of one instance's events.
	ev := e.c.Events()
	id := ins[0].InstanceID
	order := []string{EventLaunch, awsapi.PendingWait, awsapi.PendingProceed, awsapi.InService}
	last := -1
	for _, k := range order {
		i := eventIndex(ev, k, id)
		if i <= last {
			t.Fatalf("event %s of %s at %d, after %d; log:\n%s", k, id, i, last, e.eventLog())
		}
		last = i
	}
}

func TestNoLaunchHook(t *testing.T) {
	cfg := baseConfig()
	cfg.LaunchHook = ""
	e := start(t, newFake(), cfg)
	e.waitFor(time.Second, "two instances InService", e.nInState(awsapi.InService, 2))
}

func TestContinueBeforeLaunchReturns(t *testing.T) {
	f := newFake()
	f.delay = 150 * time.Millisecond
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	e := start(t, f, cfg)
	e.waitFor(time.Second, "Pending:Wait", e.nInState(awsapi.PendingWait, 1))
	e.complete(launchHook, e.inState(awsapi.PendingWait)[0].InstanceID, awsapi.Continue)
	if n := len(e.inState(awsapi.PendingProceed)); n != 1 {
		t.Fatalf("%d instances in Pending:Proceed while Launch runs, want 1", n)
	}
	e.waitFor(time.Second, "InService once Launch returned", e.nInState(awsapi.InService, 1))
}

func TestAbandonReplaces(t *testing.T) {
	e := start(t, newFake(), baseConfig())
	e.waitFor(time.Second, "two instances in Pending:Wait", e.nInState(awsapi.PendingWait, 2))
	first := e.inState(awsapi.PendingWait)
	e.complete(launchHook, first[0].InstanceID, awsapi.Abandon)
	e.complete(launchHook, first[1].InstanceID, awsapi.Continue)
	e.waitFor(time.Second, "a replacement in Pending:Wait", e.nInState(awsapi.PendingWait, 1))
	e.waitFor(time.Second, "the abandoned instance terminated", func() bool { return e.f.count("terminate "+first[0].InstanceID) == 1 })
	repl := e.inState(awsapi.PendingWait)[0]
	if repl.InstanceID == first[0].InstanceID {
		t.Fatal("no replacement")
	}
	ev := e.c.Events()
	if i := eventIndex(ev, awsapi.TerminatingWait, first[0].InstanceID); i >= 0 {
		t.Errorf("the abandoned launch ran the terminate hook:\n%s", e.eventLog())
	}
	if eventIndex(ev, EventAbandoned, first[0].InstanceID) < 0 || eventIndex(ev, awsapi.Terminated, first[0].InstanceID) < 0 {
		t.Errorf("no abandoned/Terminated events:\n%s", e.eventLog())
	}
	if _, ok := e.c.Identify(first[0].PrivateIP); ok && first[0].PrivateIP != repl.PrivateIP {
		t.Errorf("Identify still knows the terminated instance's address")
	}
	got, err := e.c.DescribeInstances(context.Background(), []string{first[0].InstanceID})
	if err != nil || got[0].State != "terminated" {
		t.Errorf("DescribeInstances(terminated) = %+v, %v", got, err)
	}
	if err := e.c.SetInstanceHealth(context.Background(), first[0].InstanceID, awsapi.Unhealthy, false); !isAPIError(err, "ValidationError") {
		t.Errorf("SetInstanceHealth(terminated): %v", err)
	}
	e.complete(launchHook, repl.InstanceID, awsapi.Continue)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
}

func TestLaunchHookTimeout(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	cfg.LaunchHookTimeout = 80 * time.Millisecond
	e := start(t, newFake(), cfg)
	e.waitFor(time.Second, "Pending:Wait", e.nInState(awsapi.PendingWait, 1))
	first := e.inState(awsapi.PendingWait)[0]

	// Heartbeats keep it waiting past the timeout.
	for i := 0; i < 5; i++ {
		time.Sleep(40 * time.Millisecond)
		if err := e.c.RecordLifecycleActionHeartbeat(context.Background(), "web", launchHook, first.InstanceID); err != nil {
			t.Fatalf("heartbeat %d: %v\n%s", i, err, e.eventLog())
		}
	}
	// Then it times out, is abandoned and replaced.
	e.waitFor(time.Second, "the timed out instance replaced", func() bool {
		ins := e.inState(awsapi.PendingWait)
		return len(ins) == 1 && ins[0].InstanceID != first.InstanceID
	})
	ev := e.c.Events()
	i := eventIndex(ev, EventAbandoned, first.InstanceID)
	if i < 0 || !strings.Contains(ev[i].Detail, "timeout") {
		t.Errorf("no abandoned (timeout) event:\n%s", e.eventLog())
	}
	e.waitFor(time.Second, "terminated", func() bool { return e.f.count("terminate "+first.InstanceID) == 1 })
}

func TestLaunchHookTimeoutContinue(t *testing.T) {
	cfg := baseConfig()
	cfg.LaunchHookTimeout = 50 * time.Millisecond
	cfg.LaunchHookDefaultResult = awsapi.Continue
	e := start(t, newFake(), cfg)
	e.waitFor(time.Second, "two InService after the timeout", e.nInState(awsapi.InService, 2))
	if e.f.count("terminate") != 0 {
		t.Errorf("instances terminated:\n%s", e.eventLog())
	}
}

func TestTerminateHook(t *testing.T) {
	cfg := baseConfig()
	cfg.TerminateHookTimeout = 150 * time.Millisecond
	e := start(t, newFake(), cfg)
	stop := e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	stop()

	// Scale in by one: the instance waits on the terminate hook.
	if err := e.c.SetDesiredCapacity(context.Background(), "web", 1); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "Terminating:Wait", e.nInState(awsapi.TerminatingWait, 1))
	victim := e.inState(awsapi.TerminatingWait)[0]
	id, ok := e.c.Identify(victim.PrivateIP)
	if !ok || id.TargetLifecycleState != awsapi.Terminated {
		t.Errorf("Identify(terminating) = %+v, %v; want target Terminated", id, ok)
	}
	time.Sleep(30 * time.Millisecond)
	if e.f.count("terminate") != 0 {
		t.Fatal("Terminate called while the terminate hook waits")
	}
	if err := e.c.CompleteLifecycleAction(context.Background(), "web", launchHook, victim.InstanceID, awsapi.Continue); !isAPIError(err, "ValidationError") {
		t.Errorf("the launch hook on a terminating instance: %v", err)
	}
	e.complete(terminateHook, victim.InstanceID, awsapi.Continue)
	e.waitFor(time.Second, "Terminate called", func() bool { return e.f.count("terminate "+victim.InstanceID) == 1 })
	e.waitFor(time.Second, "one instance left", func() bool { return len(e.c.Instances("web")) == 1 })

	// Again, letting the hook time out.
	if err := e.c.SetDesiredCapacity(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "Terminating:Wait", e.nInState(awsapi.TerminatingWait, 1))
	began := time.Now()
	e.waitFor(2*time.Second, "no instance left", func() bool { return len(e.c.Instances("web")) == 0 })
	if d := time.Since(began); d < 100*time.Millisecond {
		t.Errorf("terminated after %v, before the hook's timeout", d)
	}
	ev := e.c.Events()
	i := eventIndex(ev, awsapi.TerminatingProceed, e.lastTerminated())
	if i < 0 || !strings.Contains(ev[i].Detail, "timeout") {
		t.Errorf("no Terminating:Proceed (timeout):\n%s", e.eventLog())
	}
}

func (e *env) lastTerminated() string {
	ev := e.c.Events()
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Kind == awsapi.Terminated {
			return ev[i].InstanceID
		}
	}
	return ""
}

func TestScaling(t *testing.T) {
	cfg := baseConfig()
	cfg.TerminateHook = ""
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	orig := e.c.Instances("web")

	for _, bad := range []int{5, -1} {
		err := e.c.SetDesiredCapacity(context.Background(), "web", bad)
		if !isAPIError(err, "ValidationError") {
			t.Errorf("SetDesiredCapacity(%d) = %v, want ValidationError", bad, err)
		}
	}
	if err := e.c.SetDesiredCapacity(context.Background(), "nope", 1); !isAPIError(err, "ValidationError") {
		t.Errorf("SetDesiredCapacity(unknown group) = %v", err)
	}

	if err := e.c.SetDesiredCapacity(context.Background(), "web", 4); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "four InService", e.nInState(awsapi.InService, 4))
	zones := map[string]int{}
	for _, in := range e.c.Instances("web") {
		zones[in.AvailabilityZone]++
	}
	if zones["za"] != 2 || zones["zb"] != 2 {
		t.Errorf("zones %v, want 2 and 2", zones)
	}

	if err := e.c.SetDesiredCapacity(context.Background(), "web", 2); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "two instances", func() bool { return len(e.c.Instances("web")) == 2 })
	left := e.c.Instances("web")
	if left[0].AvailabilityZone == left[1].AvailabilityZone {
		t.Errorf("after scale-in both instances in %s", left[0].AvailabilityZone)
	}
	// Oldest first: the original two went.
	for _, in := range left {
		for _, o := range orig {
			if in.InstanceID == o.InstanceID {
				t.Errorf("scale-in kept the old instance %s", o.InstanceID)
			}
		}
	}
	if n := e.f.count("launch"); n != 4 {
		t.Errorf("%d launches, want 4", n)
	}
	e.waitFor(time.Second, "two Terminate calls", func() bool { return e.f.count("terminate") == 2 })
	ev := e.c.Events()
	i := eventIndex(ev, EventTerminate, orig[0].InstanceID)
	if i < 0 || ev[i].Detail != "scale-in" {
		t.Errorf("no terminate (scale-in) event:\n%s", e.eventLog())
	}
	if i := eventIndex(ev, EventCapacity, ""); i < 0 || ev[i].Detail != "2 -> 4" {
		t.Errorf("no capacity event")
	}
}

func TestUnhealthyLaunchFirst(t *testing.T) {
	cfg := baseConfig()
	cfg.MinHealthyPercentage, cfg.MaxHealthyPercentage = 100, 200
	e := start(t, newFake(), cfg)
	ready := make(chan struct{})
	var once sync.Once
	// Hold the replacement's launch hook until told.
	e.agent(func(in InstanceInfo) string {
		if in.InstanceID <= "i-00000000000000002" {
			return awsapi.Continue
		}
		select {
		case <-ready:
			return awsapi.Continue
		default:
			return ""
		}
	})
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	sick := e.c.Instances("web")[0]
	if err := e.c.SetInstanceHealth(context.Background(), sick.InstanceID, "Sick", false); !isAPIError(err, "ValidationError") {
		t.Errorf("SetInstanceHealth(Sick) = %v", err)
	}
	if err := e.c.SetInstanceHealth(context.Background(), "i-0000000000000beef", awsapi.Unhealthy, false); !isAPIError(err, "ValidationError") {
		t.Errorf("SetInstanceHealth(unknown) = %v", err)
	}
	if err := e.c.SetInstanceHealth(context.Background(), sick.InstanceID, awsapi.Unhealthy, false); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "a replacement in Pending:Wait", e.nInState(awsapi.PendingWait, 1))
	time.Sleep(40 * time.Millisecond)
	// The unhealthy instance stays until its replacement serves.
	for _, in := range e.c.Instances("web") {
		if in.InstanceID == sick.InstanceID && (in.LifecycleState != awsapi.InService || in.HealthStatus != awsapi.Unhealthy) {
			t.Fatalf("the unhealthy instance is %s/%s before its replacement is InService", in.LifecycleState, in.HealthStatus)
		}
	}
	g, _ := e.c.DescribeGroup(context.Background(), "web")
	if len(g.Instances) != 3 {
		t.Fatalf("%d instances, want 3 (one replacement)", len(g.Instances))
	}
	once.Do(func() { close(ready) })
	e.waitFor(time.Second, "the unhealthy instance terminated", func() bool { return e.f.count("terminate "+sick.InstanceID) == 1 })
	e.waitFor(time.Second, "two InService", func() bool {
		return len(e.c.Instances("web")) == 2 && len(e.inState(awsapi.InService)) == 2
	})
	ev := e.c.Events()
	repl := e.c.Instances("web")[1].InstanceID
	if a, b := eventIndex(ev, awsapi.InService, repl), eventIndex(ev, EventTerminate, sick.InstanceID); a < 0 || b < 0 || a > b {
		t.Errorf("replacement InService at %d, unhealthy terminated at %d:\n%s", a, b, e.eventLog())
	}
	if eventIndex(ev, awsapi.TerminatingWait, sick.InstanceID) < 0 {
		t.Errorf("the unhealthy instance skipped its terminate hook")
	}
}

func TestUnhealthyTerminateFirst(t *testing.T) {
	cfg := baseConfig() // no maintenance policy
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	sick := e.c.Instances("web")[0]
	if err := e.c.SetInstanceHealth(context.Background(), sick.InstanceID, awsapi.Unhealthy, false); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "replaced", func() bool {
		ins := e.c.Instances("web")
		return len(ins) == 2 && len(e.inState(awsapi.InService)) == 2 && ins[0].InstanceID != sick.InstanceID
	})
	ev := e.c.Events()
	var newID string
	for _, x := range ev {
		if x.Kind == EventLaunch && x.InstanceID > "i-00000000000000002" {
			newID = x.InstanceID
			break
		}
	}
	if a, b := eventIndex(ev, EventTerminate, sick.InstanceID), eventIndex(ev, EventLaunch, newID); a < 0 || b < 0 || a > b {
		t.Errorf("terminate at %d, launch at %d; want terminate and launch:\n%s", a, b, e.eventLog())
	}
}

func TestGracePeriod(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	cfg.HealthCheckGracePeriod = 300 * time.Millisecond
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "InService", e.nInState(awsapi.InService, 1))
	in := e.c.Instances("web")[0]
	if err := e.c.SetInstanceHealth(context.Background(), in.InstanceID, awsapi.Unhealthy, true); err != nil {
		t.Fatal(err)
	}
	if h := e.c.Instances("web")[0].HealthStatus; h != awsapi.Healthy {
		t.Fatalf("health %s during the grace period, want Healthy", h)
	}
	if eventIndex(e.c.Events(), EventHealthIgnored, in.InstanceID) < 0 {
		t.Error("no health-ignored event")
	}
	// A dead host is not noticed during the grace period either.
	e.f.kill(in.InstanceID)
	time.Sleep(100 * time.Millisecond)
	if h := e.c.Instances("web")[0].HealthStatus; h != awsapi.Healthy {
		t.Fatalf("health %s during the grace period, want Healthy", h)
	}
	// After it, the status check fails.
	e.waitFor(time.Second, "the dead host replaced", func() bool { return e.f.count("terminate "+in.InstanceID) == 1 })
	i := eventIndex(e.c.Events(), EventUnhealthy, in.InstanceID)
	if i < 0 || e.c.Events()[i].Detail != "EC2 status check failed" {
		t.Errorf("no unhealthy (status check) event:\n%s", e.eventLog())
	}
}

func TestGracePeriodNotRespected(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	cfg.HealthCheckGracePeriod = time.Hour
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "InService", e.nInState(awsapi.InService, 1))
	in := e.c.Instances("web")[0]
	if err := e.c.SetInstanceHealth(context.Background(), in.InstanceID, awsapi.Unhealthy, false); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "replaced", func() bool { return e.f.count("terminate "+in.InstanceID) == 1 })
}

func TestHealthyAgainCancelsReplacement(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	cfg.MinHealthyPercentage, cfg.MaxHealthyPercentage = 100, 200
	e := start(t, newFake(), cfg)
	var mu sync.Mutex
	hold := true
	e.agent(func(in InstanceInfo) string {
		mu.Lock()
		defer mu.Unlock()
		if in.InstanceID == "i-00000000000000001" || !hold {
			return awsapi.Continue
		}
		return ""
	})
	e.waitFor(time.Second, "InService", e.nInState(awsapi.InService, 1))
	in := e.c.Instances("web")[0]
	_ = e.c.SetInstanceHealth(context.Background(), in.InstanceID, awsapi.Unhealthy, false)
	e.waitFor(time.Second, "a replacement", e.nInState(awsapi.PendingWait, 1))
	_ = e.c.SetInstanceHealth(context.Background(), in.InstanceID, awsapi.Healthy, false)
	mu.Lock()
	hold = false
	mu.Unlock()
	// Two healthy instances for a desired capacity of 1: one is scaled in.
	e.waitFor(time.Second, "one instance", func() bool { return len(e.c.Instances("web")) == 1 })
	if eventIndex(e.c.Events(), EventHealthy, in.InstanceID) < 0 {
		t.Errorf("no healthy event:\n%s", e.eventLog())
	}
}

func TestDeadHostReplaced(t *testing.T) {
	cfg := baseConfig()
	cfg.TerminateHook = ""
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	victim := e.c.Instances("web")[1]
	e.f.kill(victim.InstanceID)
	e.waitFor(time.Second, "the dead host terminated", func() bool { return e.f.count("terminate "+victim.InstanceID) == 1 })
	e.waitFor(time.Second, "two InService again", func() bool {
		return len(e.c.Instances("web")) == 2 && len(e.inState(awsapi.InService)) == 2
	})
	// The replacement went to the zone that lost an instance.
	zones := map[string]int{}
	for _, in := range e.c.Instances("web") {
		zones[in.AvailabilityZone]++
	}
	if zones["za"] != 1 || zones["zb"] != 1 {
		t.Errorf("zones %v after replacing a dead host", zones)
	}
}

func TestLaunchFailure(t *testing.T) {
	f := newFake()
	f.failNext = 1
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	e := start(t, f, cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "InService", e.nInState(awsapi.InService, 1))
	ev := e.c.Events()
	first := "i-00000000000000001"
	if eventIndex(ev, EventLaunchFailed, first) < 0 {
		t.Fatalf("no launch-failed event:\n%s", e.eventLog())
	}
	e.waitFor(time.Second, "the failed instance cleaned up", func() bool { return e.f.count("terminate "+first) == 1 })
	if e.c.Instances("web")[0].InstanceID == first {
		t.Error("the failed instance is InService")
	}
}

func TestTerminateWhileLaunching(t *testing.T) {
	f := newFake()
	f.delay = time.Hour // Launch returns only when cancelled
	cfg := baseConfig()
	cfg.DesiredCapacity = 1
	e := start(t, f, cfg)
	e.waitFor(time.Second, "Pending:Wait", e.nInState(awsapi.PendingWait, 1))
	id := e.inState(awsapi.PendingWait)[0].InstanceID
	e.complete(launchHook, id, awsapi.Abandon)
	e.waitFor(time.Second, "terminated", func() bool { return e.f.count("terminate "+id) == 1 })
	f.mu.Lock()
	defer f.mu.Unlock()
	// The replacement's Launch runs; the abandoned one's returned first.
	if f.launching != 1 {
		t.Errorf("%d Launch calls running, want 1 (the replacement)", f.launching)
	}
}

func TestAddresses(t *testing.T) {
	cfg := baseConfig()
	cfg.LaunchHook = ""
	cfg.TerminateHook = ""
	cfg.Addresses = map[string][]string{"za": {"10.0.1.10"}, "zb": {}}
	cfg.MaxSize = 3
	e := start(t, newFake(), cfg)
	e.waitFor(time.Second, "one InService", e.nInState(awsapi.InService, 1))
	time.Sleep(50 * time.Millisecond)
	if n := len(e.c.Instances("web")); n != 1 {
		t.Fatalf("%d instances with a single address", n)
	}
	ev := e.c.Events()
	if i := eventIndex(ev, EventLaunchFailed, ""); i < 0 || !strings.Contains(ev[i].Detail, "no free address") {
		t.Errorf("no launch-failed (no free address) event:\n%s", e.eventLog())
	}
	if len(ev) > 10 {
		t.Errorf("%d events: the missing address is reported more than once", len(ev))
	}
	// Its address is reused once the instance is gone.
	old := e.c.Instances("web")[0]
	e.f.kill(old.InstanceID)
	e.waitFor(time.Second, "a new instance on the same address", func() bool {
		ins := e.c.Instances("web")
		return len(ins) == 1 && ins[0].InstanceID != old.InstanceID && ins[0].PrivateIP == "10.0.1.10"
	})
}

func TestRefreshLaunchesFirst(t *testing.T) {
	cfg := baseConfig()
	cfg.InstanceWarmup = 60 * time.Millisecond
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	old := ids(e.c.Instances("web"))

	if err := e.c.SetTemplate("web", "v2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if n := e.f.count("launch"); n != 2 {
		t.Fatalf("SetTemplate launched instances (%d launches)", n)
	}
	for _, bad := range [][2]int{{101, 200}, {50, 99}, {50, 201}, {10, 150}} {
		if _, err := e.c.StartInstanceRefresh(context.Background(), "web", bad[0], bad[1]); !isAPIError(err, "ValidationError") {
			t.Errorf("StartInstanceRefresh(%v) = %v, want ValidationError", bad, err)
		}
	}
	id, err := e.c.StartInstanceRefresh(context.Background(), "web", 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.StartInstanceRefresh(context.Background(), "web", 100, 200); !isAPIError(err, "InstanceRefreshInProgress") {
		t.Errorf("second refresh: %v, want InstanceRefreshInProgress", err)
	}
	e.waitFor(3*time.Second, "the refresh successful", func() bool {
		rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
		return len(rs) == 1 && rs[0].Status == awsapi.RefreshSuccessful
	})
	rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
	if rs[0].ID != id || rs[0].PercentageComplete != 100 {
		t.Errorf("refresh %+v, want %s at 100%%", rs[0], id)
	}
	ins := e.c.Instances("web")
	if len(ins) != 2 || ins[0].Template != "v2" || ins[1].Template != "v2" {
		t.Fatalf("after the refresh: %+v", ins)
	}
	for _, o := range old {
		if e.f.count("terminate "+o) != 1 {
			t.Errorf("old instance %s not terminated", o)
		}
	}

	// Event order: both new instances InService (and warmed up) before
	// either old one is terminated.
	ev := e.c.Events()
	firstTerminate := len(ev)
	for _, o := range old {
		if i := eventIndex(ev, EventTerminate, o); i >= 0 && i < firstTerminate {
			firstTerminate = i
			if ev[i].Detail != "refresh" {
				t.Errorf("old instance terminated for %q", ev[i].Detail)
			}
		}
	}
	for _, n := range ids(ins) {
		i := eventIndex(ev, awsapi.InService, n)
		if i < 0 || i > firstTerminate {
			t.Errorf("new instance %s InService at %d, after the first old one is terminated (%d):\n%s", n, i, firstTerminate, e.eventLog())
			continue
		}
		if d := ev[firstTerminate].Time.Sub(ev[i].Time); d < cfg.InstanceWarmup {
			t.Errorf("old instance terminated %v after %s InService, before its warmup", d, n)
		}
	}
	if a, b := eventIndex(ev, EventRefreshStarted, ""), eventIndex(ev, EventRefreshFinished, ""); a < 0 || b < a || !strings.Contains(ev[b].Detail, awsapi.RefreshSuccessful) {
		t.Errorf("refresh events %d %d", a, b)
	}

	// At no point more than 4 instances (200 %) were in the group.
	live, most := map[string]bool{}, 0
	for _, x := range ev {
		switch x.Kind {
		case EventLaunch:
			live[x.InstanceID] = true
		case awsapi.Terminated:
			delete(live, x.InstanceID)
		}
		most = max(most, len(live))
	}
	if most > 4 {
		t.Errorf("%d instances at once, want at most 4", most)
	}

	// A second refresh lists first; with nothing to replace it succeeds.
	id2, err := e.c.StartInstanceRefresh(context.Background(), "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Second, "the second refresh successful", func() bool {
		rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
		return len(rs) == 2 && rs[0].ID == id2 && rs[0].Status == awsapi.RefreshSuccessful && rs[1].ID == id
	})
	if n := e.f.count("launch"); n != 4 {
		t.Errorf("%d launches, want 4", n)
	}
}

func TestRefreshNeverReady(t *testing.T) {
	cfg := baseConfig()
	cfg.LaunchHookTimeout = 40 * time.Millisecond
	e := start(t, newFake(), cfg)
	// v1 instances become ready, v2 ones never do (their hook times out).
	e.agent(func(in InstanceInfo) string {
		if in.Template == "v1" {
			return awsapi.Continue
		}
		return ""
	})
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	old := ids(e.c.Instances("web"))
	_ = e.c.SetTemplate("web", "v2")
	if _, err := e.c.StartInstanceRefresh(context.Background(), "web", 100, 200); err != nil {
		t.Fatal(err)
	}
	// Several generations of new instances are abandoned.
	e.waitFor(3*time.Second, "new instances abandoned", func() bool {
		n := 0
		for _, x := range e.c.Events() {
			if x.Kind == EventAbandoned {
				n++
			}
		}
		return n >= 6
	})
	for _, o := range old {
		if i := eventIndex(e.c.Events(), EventTerminate, o); i >= 0 {
			t.Fatalf("old instance %s terminated:\n%s", o, e.eventLog())
		}
	}
	n := 0
	for _, in := range e.c.Instances("web") {
		if in.TargetLifecycleState == awsapi.InService {
			n++
		}
	}
	if n > 4 {
		t.Errorf("%d instances not terminating, want at most 4", n)
	}
	rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
	if rs[0].Status != awsapi.RefreshInProgress || rs[0].PercentageComplete != 0 {
		t.Errorf("refresh %+v, want InProgress at 0%%", rs[0])
	}
	if n := len(e.inState(awsapi.InService)); n != 2 {
		t.Errorf("%d InService, want the 2 old ones", n)
	}
}

func TestRefreshOneAtATime(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity = 3
	cfg.Addresses = nil
	cfg.InstanceWarmup = -1
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "three InService", e.nInState(awsapi.InService, 3))
	_ = e.c.SetTemplate("web", "v2")
	if _, err := e.c.StartInstanceRefresh(context.Background(), "web", 90, 100); err != nil {
		t.Fatal(err)
	}
	e.waitFor(3*time.Second, "the refresh successful", func() bool {
		rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
		return rs[0].Status == awsapi.RefreshSuccessful
	})
	// 90 % of 3 rounds up to 3, max 100 %: one instance at a time, so
	// never fewer than 2 InService nor more than 3 instances (not counting
	// those on their way out).
	live, inSvc := map[string]bool{}, map[string]bool{}
	started := false
	for _, x := range e.c.Events() {
		switch x.Kind {
		case EventLaunch:
			live[x.InstanceID] = true
		case awsapi.InService:
			inSvc[x.InstanceID] = true
		case EventTerminate:
			delete(inSvc, x.InstanceID)
			delete(live, x.InstanceID)
		case EventRefreshStarted:
			started = true
		}
		if len(live) > 3 {
			t.Fatalf("%d instances at %s", len(live), x)
		}
		if started && len(inSvc) < 2 {
			t.Fatalf("%d InService at %s\n%s", len(inSvc), x, e.eventLog())
		}
	}
}

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		desired, minPct, maxPct int
		minHealthy, maxTotal    int
	}{
		{2, 100, 200, 2, 4},
		{2, 90, 100, 1, 2},   // ⌈1.8⌉ = 2 = max: one at a time
		{3, 90, 100, 2, 3},   // ⌈2.7⌉ = 3 = max: one at a time
		{10, 90, 100, 9, 10}, // one at a time
		{10, 90, 110, 9, 11},
		{10, 50, 150, 5, 15},
		{1, 100, 110, 1, 2}, // above 100 % allows at least one more
		{1, 100, 100, 0, 1},
		{4, 0, 100, 0, 4},
		{5, 33, 133, 2, 6},
		{0, 100, 200, 0, 0},
	} {
		minH, maxT := bounds(tc.desired, tc.minPct, tc.maxPct)
		if minH != tc.minHealthy || maxT != tc.maxTotal {
			t.Errorf("bounds(%d, %d, %d) = %d, %d; want %d, %d", tc.desired, tc.minPct, tc.maxPct, minH, maxT, tc.minHealthy, tc.maxTotal)
		}
	}
}

func TestAddGroupValidation(t *testing.T) {
	ok := baseConfig()
	for name, mod := range map[string]func(*GroupConfig){
		"no name":        func(c *GroupConfig) { c.Name = "" },
		"no zones":       func(c *GroupConfig) { c.Zones = nil },
		"desired > max":  func(c *GroupConfig) { c.DesiredCapacity = 5 },
		"desired < min":  func(c *GroupConfig) { c.MinSize = 3 },
		"negative min":   func(c *GroupConfig) { c.MinSize = -1 },
		"bad result":     func(c *GroupConfig) { c.LaunchHookDefaultResult = "maybe" },
		"bad max health": func(c *GroupConfig) { c.MaxHealthyPercentage = 250 },
		"bad range":      func(c *GroupConfig) { c.MinHealthyPercentage, c.MaxHealthyPercentage = 0, 150 },
	} {
		cfg := ok
		mod(&cfg)
		if err := New(newFake()).AddGroup(cfg); err == nil {
			t.Errorf("%s: AddGroup accepted %+v", name, cfg)
		}
	}
	c := New(newFake())
	if err := c.AddGroup(ok); err != nil {
		t.Fatal(err)
	}
	if err := c.AddGroup(ok); err == nil {
		t.Error("AddGroup accepted a second group web")
	}
	if err := c.SetTemplate("nope", "v2"); !isAPIError(err, "ValidationError") {
		t.Errorf("SetTemplate(unknown) = %v", err)
	}
	if _, err := c.StartInstanceRefresh(context.Background(), "nope", 0, 0); !isAPIError(err, "ValidationError") {
		t.Errorf("StartInstanceRefresh(unknown) = %v", err)
	}
	if _, err := c.DescribeInstanceRefreshes(context.Background(), "nope"); !isAPIError(err, "ValidationError") {
		t.Errorf("DescribeInstanceRefreshes(unknown) = %v", err)
	}
	if c.Instances("nope") != nil {
		t.Error("Instances(unknown) not nil")
	}
	if got := c.GroupNames(); len(got) != 1 || got[0] != "web" {
		t.Errorf("GroupNames = %v", got)
	}
}

func TestEventHandler(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	f := newFake()
	cfg := baseConfig()
	cfg.LaunchHook = ""
	c := New(f, WithInterval(10*time.Millisecond), WithEventHandler(func(e Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	if err := c.AddGroup(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	deadline := time.Now().Add(time.Second)
	for len(c.Instances("web")) != 2 || c.Instances("web")[1].LifecycleState != awsapi.InService {
		if time.Now().After(deadline) {
			t.Fatal("no two InService")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	all := c.Events()
	if len(got) != len(all) {
		t.Fatalf("handler got %d events, log has %d", len(got), len(all))
	}
	for i := range got {
		if got[i].Seq != i+1 {
			t.Fatalf("handler event %d has seq %d", i, got[i].Seq)
		}
	}
}

// TestConcurrent hammers the API from many goroutines while the group
// churns; run with -race.
func TestConcurrent(t *testing.T) {
	cfg := baseConfig()
	cfg.MaxSize = 6
	cfg.Addresses = nil
	cfg.LaunchHookTimeout = 30 * time.Millisecond
	cfg.TerminateHookTimeout = 30 * time.Millisecond
	cfg.MinHealthyPercentage, cfg.MaxHealthyPercentage = 50, 150
	f := newFake()
	f.delay = 2 * time.Millisecond
	e := start(t, f, cfg)
	e.agent(func(in InstanceInfo) string {
		if in.InstanceID[len(in.InstanceID)-1]%3 == 0 {
			return awsapi.Abandon
		}
		return awsapi.Continue
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				switch (w + i) % 8 {
				case 0:
					_ = e.c.SetDesiredCapacity(ctx, "web", (w+i)%7)
				case 1:
					if g, err := e.c.DescribeGroup(ctx, "web"); err == nil && len(g.Instances) > 0 {
						_ = e.c.SetInstanceHealth(ctx, g.Instances[0].InstanceID, awsapi.Unhealthy, i%2 == 0)
					}
				case 2:
					_ = e.c.SetTemplate("web", fmt.Sprintf("v%d", i%3))
					_, _ = e.c.StartInstanceRefresh(ctx, "web", 50, 150)
				case 3:
					_, _ = e.c.DescribeInstanceRefreshes(ctx, "web")
				case 4:
					for _, in := range e.c.Instances("web") {
						_, _ = e.c.Identify(in.PrivateIP)
						_, _ = e.c.DescribeInstances(ctx, []string{in.InstanceID})
						_ = e.c.RecordLifecycleActionHeartbeat(ctx, "web", launchHook, in.InstanceID)
					}
				case 5:
					if ins := e.c.Instances("web"); len(ins) > 0 {
						f.kill(ins[len(ins)-1].InstanceID)
					}
				case 6:
					_ = e.c.Events()
				case 7:
					_, _ = e.c.DescribeInstances(ctx, nil)
				}
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	wg.Wait()
	// Settle at 2 healthy instances.
	if err := e.c.SetDesiredCapacity(ctx, "web", 2); err != nil {
		t.Fatal(err)
	}
	e.waitFor(5*time.Second, "two InService and nothing else", func() bool {
		ins := e.c.Instances("web")
		return len(ins) == 2 && len(e.inState(awsapi.InService)) == 2 &&
			ins[0].HealthStatus == awsapi.Healthy && ins[1].HealthStatus == awsapi.Healthy
	})
	e.stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overlap {
		t.Error("an instance was terminated twice")
	}
	if f.launching != 0 {
		t.Errorf("%d Launch calls still running after Run returned", f.launching)
	}
}

// The group model is a Cloud the fake AWS serves.
var _ fakeaws.Cloud = (*Cloud)(nil)

// A pair refreshed one instance at a time (100 %/150 %) ends with one new
// instance in each zone, not both in the zone that happened to come first.
func TestRefreshKeepsZonesBalanced(t *testing.T) {
	cfg := baseConfig()
	cfg.DesiredCapacity, cfg.MinSize, cfg.MaxSize = 2, 2, 2
	cfg.Addresses = nil
	cfg.InstanceWarmup = -1
	e := start(t, newFake(), cfg)
	e.agent(continueAll)
	e.waitFor(time.Second, "two InService", e.nInState(awsapi.InService, 2))
	for round := 2; round <= 4; round++ {
		_ = e.c.SetTemplate("web", fmt.Sprint("v", round))
		if _, err := e.c.StartInstanceRefresh(context.Background(), "web", 100, 150); err != nil {
			t.Fatal(err)
		}
		e.waitFor(3*time.Second, "the refresh successful", func() bool {
			rs, _ := e.c.DescribeInstanceRefreshes(context.Background(), "web")
			return rs[0].Status == awsapi.RefreshSuccessful
		})
		e.waitFor(3*time.Second, "two instances", func() bool { return len(e.c.Instances("web")) == 2 })
		zones := map[string]bool{}
		for _, in := range e.c.Instances("web") {
			zones[in.AvailabilityZone] = true
		}
		if len(zones) != 2 {
			t.Fatalf("after refresh %d the pair is in %v\n%s", round, zones, e.eventLog())
		}
	}
}
