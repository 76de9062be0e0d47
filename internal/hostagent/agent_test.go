package hostagent

import (
	"context"
	"errors"
	"github.com/foobar/webstack/internal/testtools"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/awsapi"
)

const (
	continueLaunch    = "CompleteLifecycleAction web-asg launch " + selfID + " CONTINUE"
	abandonLaunch     = "CompleteLifecycleAction web-asg launch " + selfID + " ABANDON"
	continueTerminate = "CompleteLifecycleAction web-asg terminate " + selfID + " CONTINUE"
	heartbeat         = "RecordLifecycleActionHeartbeat web-asg terminate " + selfID
	markUnhealthy     = "SetInstanceHealth " + selfID + " Unhealthy true"
)

// TestReadinessNeedsEveryCondition: with any one condition missing, the
// launch hook is not completed, and the log says which; with all of them,
// it is completed once, with CONTINUE, and Ready.Then runs once.
func TestReadinessNeedsEveryCondition(t *testing.T) {
	for _, tc := range []struct {
		missing string
		spoil   func(h *harness)
		reason  string
	}{
		{"marker", func(h *harness) { os.Remove(h.cfg.Ready.Marker) }, "marker " + "/"},
		{"discovery (empty group)", func(h *harness) { h.aws.set("app-asg") }, "no app servers written to "},
		{"discovery (only unhealthy or pending hosts)", func(h *harness) {
			h.aws.set("app-asg", "i-0app1 10.0.4.10 InService Unhealthy", "i-0app2 10.0.4.11 Pending:Wait")
		}, "no app servers written to "},
		{"discovery (the check fails)", func(h *harness) { h.run.failing("check-cmd", "bad config") }, "no app servers written to "},
		{"own service", func(h *harness) { h.svc.ready.Store(http.StatusServiceUnavailable) }, "/ready answered 503 Service Unavailable"},
	} {
		t.Run(tc.missing, func(t *testing.T) {
			h := newHarness(t, nil)
			h.ready()
			tc.spoil(h)
			h.rounds(5)
			h.wantCalls()
			if h.agent.launch.thenRan {
				t.Error("Ready.Then ran on a host that is not ready")
			}
			if n := h.logCount("not ready: "); n != 1 {
				t.Errorf("%d \"not ready\" lines in 5 rounds, want 1 (logged when the reason changes)", n)
			}
			if !strings.Contains(h.logs.String(), tc.reason) {
				t.Errorf("the log does not say why (%q)", tc.reason)
			}
			if _, err := os.Stat(filepath.Join(h.cfg.StateDir, StateFile)); err == nil {
				t.Error("the state file says the launch hook is completed")
			}
		})
	}

	t.Run("all conditions", func(t *testing.T) {
		h := newHarness(t, nil)
		h.rounds(2)
		h.wantCalls()
		h.ready()
		h.rounds(1)
		h.wantCalls(continueLaunch)
		h.wantRan("check-cmd", "reload-cmd", "then-cmd start")
		h.rounds(5)
		h.wantCalls(continueLaunch)
		h.wantRan()
		if b := h.file(filepath.Join(h.cfg.StateDir, StateFile)); b != selfID+"\n" {
			t.Errorf("state file holds %q, want the instance id", b)
		}
		if h.logCount("ready after") != 1 || h.logCount("completed the launch hook launch with CONTINUE") != 1 {
			t.Error("the completion is not logged once")
		}
	})
}

// TestReadinessWaitsForTheTargetState: the hook is completed only while
// the instance is to be in service.
func TestReadinessWaitsForTheTargetState(t *testing.T) {
	h := newHarness(t, nil)
	h.ready()
	h.aws.with(func(f *fakeAWS) { f.target = "" })
	h.rounds(3)
	h.aws.with(func(f *fakeAWS) { f.targetErr = errors.New("IMDS down") })
	h.rounds(3)
	h.wantCalls()
	h.aws.with(func(f *fakeAWS) { f.target, f.targetErr = awsapi.InService, nil })
	h.rounds(1)
	h.wantCalls(continueLaunch)
	if n := h.logCount("cannot read the target lifecycle state"); n != 1 {
		t.Errorf("the metadata failure was logged %d times, want once", n)
	}
}

func TestAbandonAfterTimeout(t *testing.T) {
	h := newHarness(t, nil)
	os.WriteFile(h.cfg.Ready.Marker, nil, 0o644)
	h.aws.set("app-asg", "i-0app1 10.0.4.10")
	// The own service never answers 200.
	timeout := h.cfg.Ready.Timeout.D()
	for h.clock.now().Sub(h.agent.start) < timeout { // rounds at 0 s … timeout-2 s
		h.rounds(1)
	}
	h.wantCalls()
	h.rounds(1) // at the timeout
	h.wantCalls(abandonLaunch)
	if !strings.Contains(h.logs.String(), "abandoned the launch (hook launch, ABANDON): not ready after 10m0s: ") ||
		!strings.Contains(h.logs.String(), "/ready answered 503 Service Unavailable") {
		t.Errorf("the log does not say why the launch was abandoned:\n%s", h.logs)
	}
	// It keeps running (discovery goes on), and never completes the hook.
	h.aws.set("app-asg", "i-0app1 10.0.4.10", "i-0app2 10.0.4.11")
	h.svc.ready.Store(http.StatusOK)
	h.rounds(5)
	h.wantCalls(abandonLaunch)
	if h.agent.launch.thenRan || !strings.Contains(h.file(h.cfg.Discover[0].Path), "i-0app2") {
		t.Error("after abandoning, Ready.Then ran or discovery stopped")
	}
}

// TestAbandonFailureIsRetried: an API failure is retried next round.
func TestAbandonFailureIsRetried(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Ready.Timeout = Duration(4 * time.Second) })
	h.aws.with(func(f *fakeAWS) {
		f.completeErr = func(string, string) error {
			return &awsapi.APIError{Code: "Throttling", Message: "Rate exceeded", StatusCode: 400}
		}
	})
	h.rounds(5)
	h.aws.with(func(f *fakeAWS) { f.completeErr = nil })
	h.rounds(3)
	h.wantCalls(abandonLaunch, abandonLaunch, abandonLaunch, abandonLaunch)
	if n := h.logCount("abandoning the launch failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once", n)
	}
}

// TestNoActiveLifecycleActionIsDone: the hook already finished (or the
// instance was attached without one): the launch counts as completed.
func TestNoActiveLifecycleActionIsDone(t *testing.T) {
	h := newHarness(t, nil)
	h.aws.with(func(f *fakeAWS) { f.completeErr = func(string, string) error { return noActive } })
	h.ready()
	h.rounds(3)
	h.wantCalls(continueLaunch)
	h.wantRan("check-cmd", "reload-cmd", "then-cmd start")
	if !h.agent.launch.done || h.file(filepath.Join(h.cfg.StateDir, StateFile)) == "" {
		t.Error("the launch is not done")
	}
	if !strings.Contains(h.logs.String(), "has no active action") {
		t.Error("not logged")
	}
	// Health checks have started.
	before := h.svc.hits.Load()
	h.svc.health.Store(http.StatusInternalServerError)
	h.rounds(3)
	h.wantCalls(continueLaunch, markUnhealthy)
	if h.svc.hits.Load() == before {
		t.Error("no health check after the launch")
	}
}

// TestOtherCompletionErrorsAreRetried: only "no active action" counts as
// done; anything else is retried, and Ready.Then waits.
func TestOtherCompletionErrorsAreRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.aws.with(func(f *fakeAWS) {
		f.completeErr = func(string, string) error {
			return &awsapi.APIError{Code: "ValidationError", Message: "No Lifecycle Hook named launch found", StatusCode: 400}
		}
	})
	h.ready()
	h.rounds(3)
	if h.agent.launch.done || h.agent.launch.thenRan {
		t.Fatal("an error other than \"no active action\" counted as done")
	}
	h.aws.with(func(f *fakeAWS) { f.completeErr = nil })
	h.rounds(2)
	h.wantCalls(continueLaunch, continueLaunch, continueLaunch, continueLaunch)
	if !h.agent.launch.thenRan || h.logCount("completing the launch hook failed") != 1 {
		t.Errorf("retry: then ran %v, failure logged %d times (want once)", h.agent.launch.thenRan, h.logCount("completing the launch hook failed"))
	}
}

// TestRestartRemembersTheLaunch: a restarted agent does not complete the
// hook again, runs Ready.Then again while in service, and not while
// terminating.
func TestRestartRemembersTheLaunch(t *testing.T) {
	h := newHarness(t, nil)
	h.ready()
	h.rounds(2)
	h.wantCalls(continueLaunch)
	h.wantRan("check-cmd", "reload-cmd", "then-cmd start")

	h.agent = h.newAgent()
	h.svc.ready.Store(http.StatusServiceUnavailable) // not asked again
	h.rounds(3)
	h.wantCalls(continueLaunch)
	h.wantRan("then-cmd start") // the servers file is already current
	if !h.agent.launch.done {
		t.Error("the restarted agent forgot the launch")
	}

	h.agent = h.newAgent()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.rounds(1)
	if ran := strings.Join(h.run.take(), ","); strings.Contains(ran, "then-cmd") || !strings.Contains(ran, "before-cmd") {
		t.Errorf("terminating after a restart: ran %s; want drain.before, not ready.then", ran)
	}

	// Another instance's state file does not count.
	os.WriteFile(filepath.Join(h.cfg.StateDir, StateFile), []byte("i-0other\n"), 0o644)
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.InService; f.calls = nil })
	h.agent = h.newAgent()
	h.svc.ready.Store(http.StatusOK)
	h.rounds(1)
	h.wantCalls(continueLaunch)
}

func TestDiscoveryWritesAndReloadsOnlyOnChange(t *testing.T) {
	h := newHarness(t, nil)
	path := h.cfg.Discover[0].Path
	// Sorted by address, numerically; unhealthy, pending and terminating
	// hosts are left out.
	h.aws.set("app-asg",
		"i-0c 10.0.10.5",
		"i-0a 10.0.9.5",
		"i-0sick 10.0.9.6 InService Unhealthy",
		"i-0new 10.0.9.7 Pending:Wait",
		"i-0old 10.0.9.8 Terminating:Wait",
		"i-0b 10.0.9.40",
	)
	h.rounds(1)
	h.wantRan("check-cmd", "reload-cmd")
	want := "server 10.0.9.5:8080 max_fails=1 fail_timeout=5s;    # i-0a\n" +
		"server 10.0.9.40:8080 max_fails=1 fail_timeout=5s;    # i-0b\n" +
		"server 10.0.10.5:8080 max_fails=1 fail_timeout=5s;    # i-0c\n"
	if got := h.file(path); !strings.HasSuffix(got, "\n"+want) || strings.Count(got, "server ") != 3 {
		t.Fatalf("servers file:\n%s\nwant it to end with:\n%s", got, want)
	}
	if !strings.Contains(h.logs.String(), "app servers: 3: i-0a 10.0.9.5, i-0b 10.0.9.40, i-0c 10.0.10.5") {
		t.Errorf("the list is not logged with its addresses")
	}

	// Same hosts, listed in another order: nothing to do.
	h.aws.set("app-asg", "i-0b 10.0.9.40", "i-0c 10.0.10.5", "i-0a 10.0.9.5")
	h.rounds(3)
	h.wantRan()
	if n := h.logCount("app servers: 3: "); n != 1 {
		t.Errorf("an unchanged list was logged %d times", n)
	}

	// One leaves: rewritten, checked, reloaded.
	h.aws.set("app-asg", "i-0b 10.0.9.40", "i-0c 10.0.10.5")
	h.rounds(2)
	h.wantRan("check-cmd", "reload-cmd")
	if got := h.file(path); strings.Contains(got, "i-0a") || strings.Count(got, "server ") != 2 {
		t.Errorf("after i-0a left:\n%s", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(h.dir, ".*.tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

// TestDiscoveryCheckFailureRestoresTheFile: the previous file is put back,
// the reload is not run, and the check's output is logged.
func TestDiscoveryCheckFailureRestoresTheFile(t *testing.T) {
	h := newHarness(t, nil)
	path := h.cfg.Discover[0].Path
	h.aws.set("app-asg", "i-0a 10.0.4.10")
	h.rounds(1)
	h.wantRan("check-cmd", "reload-cmd")
	good := h.file(path)

	// The check sees the new file, fails; the old one is back.
	var checked string
	h.run.also = func(argv []string) {
		if argv[0] == "check-cmd" {
			checked = h.file(path)
		}
	}
	h.run.failing("check-cmd", "nginx: [emerg] host not found in upstream\nnginx: configuration file test failed")
	h.aws.set("app-asg", "i-0a 10.0.4.10", "i-0b 10.0.4.11")
	h.rounds(3)
	h.wantRan("check-cmd", "check-cmd", "check-cmd") // retried every round, never reloaded
	if !strings.Contains(checked, "i-0b") {
		t.Errorf("the check did not see the new file:\n%s", checked)
	}
	if got := h.file(path); got != good {
		t.Errorf("the previous file was not put back:\n%s\nwant:\n%s", got, good)
	}
	if n := h.logCount("nginx: [emerg] host not found in upstream | nginx: configuration file test failed"); n != 1 {
		t.Errorf("the check's output was logged %d times, want once (on one line):\n%s", n, h.logs)
	}

	// Fixed: written, reloaded.
	h.run.failing("check-cmd", "")
	h.rounds(1)
	h.wantRan("check-cmd", "reload-cmd")
	if !strings.Contains(h.file(path), "i-0b") {
		t.Error("not written once the check passes")
	}
}

// TestDiscoveryCheckFailureWithoutPreviousFile: nothing to put back, so
// the file is removed, and the discovery does not count for readiness.
func TestDiscoveryCheckFailureWithoutPreviousFile(t *testing.T) {
	h := newHarness(t, nil)
	h.run.failing("check-cmd", "bad")
	h.aws.set("app-asg", "i-0a 10.0.4.10")
	h.rounds(1)
	h.wantRan("check-cmd")
	if _, err := os.Stat(h.cfg.Discover[0].Path); !os.IsNotExist(err) {
		t.Errorf("the file that failed its check is still there: %v", err)
	}
	if h.agent.discoveries[0].listed {
		t.Error("a list that failed its check counts for readiness")
	}
}

// TestDiscoveryKeepsTheFile on API errors and empty lists, logging each
// state once.
func TestDiscoveryKeepsTheFile(t *testing.T) {
	h := newHarness(t, nil)
	path := h.cfg.Discover[0].Path
	h.aws.set("app-asg", "i-0a 10.0.4.10")
	h.rounds(1)
	h.run.take()
	good := h.file(path)

	for _, tc := range []struct {
		name  string
		spoil func(f *fakeAWS)
		log   string
	}{
		{"DescribeAutoScalingGroups fails", func(f *fakeAWS) {
			f.groupErr = &awsapi.APIError{Code: "Throttling", Message: "Rate exceeded", StatusCode: 400}
		}, "app servers: Throttling (HTTP 400): Rate exceeded; keeping " + path},
		{"DescribeInstances fails", func(f *fakeAWS) {
			f.ec2Err = errors.New("dial tcp: connection refused")
		}, "app servers: dial tcp: connection refused; keeping " + path},
		{"the group is empty", func(f *fakeAWS) { f.groups["app-asg"] = nil }, "app servers: none in group app-asg is InService and healthy; keeping " + path},
		{"every host is unhealthy", func(f *fakeAWS) {
			f.groups["app-asg"] = []awsapi.GroupInstance{{InstanceID: "i-0a", LifecycleState: awsapi.InService, HealthStatus: awsapi.Unhealthy}}
		}, "app servers: none in group app-asg is InService and healthy"},
		{"the group is gone", func(f *fakeAWS) { delete(f.groups, "app-asg") }, "app servers: ValidationError (HTTP 400): AutoScalingGroup name not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.logs.Reset()
			h.aws.with(tc.spoil)
			h.rounds(4)
			h.wantRan()
			if got := h.file(path); got != good {
				t.Errorf("the file changed:\n%s", got)
			}
			if n := h.logCount(tc.log); n != 1 {
				t.Errorf("%q logged %d times in 4 rounds, want once:\n%s", tc.log, n, h.logs)
			}
			h.aws.with(func(f *fakeAWS) { f.groupErr, f.ec2Err = nil, nil })
			h.aws.set("app-asg", "i-0a 10.0.4.10")
			h.rounds(1)
			h.wantRan()
		})
	}
}

// TestDiscoveryRetriesAFailedReload: the service may not run yet.
func TestDiscoveryRetriesAFailedReload(t *testing.T) {
	h := newHarness(t, nil)
	h.run.failing("reload-cmd", "nginx.service is not active, cannot reload.")
	h.aws.set("app-asg", "i-0a 10.0.4.10")
	h.rounds(3)
	h.wantRan("check-cmd", "reload-cmd", "reload-cmd", "reload-cmd")
	if n := h.logCount("reload (reload-cmd) failed"); n != 1 {
		t.Errorf("the reload failure was logged %d times, want once", n)
	}
	if !h.agent.discoveries[0].listed {
		t.Error("a file that passed its check does not count for readiness")
	}
	h.run.failing("reload-cmd", "")
	h.rounds(3)
	h.wantRan("reload-cmd")
}

// TestDiscoveryRenders each kind of file with this host's identity.
func TestDiscoveryRenders(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Discover = []Discovery{
			{
				Name: "web servers", Group: "web-servers", Port: 80, Render: RenderHAProxyBackend,
				HAProxy: &lbconf.Backend{Name: "be_web", HealthPath: "/healthz", HealthHost: "www.foobar.com"},
				Path:    filepath.Join(c.StateDir, "..", "backend.cfg"), Check: []string{"haproxy-check"}, Reload: []string{"haproxy-reload"},
			},
			{
				Name: "load balancers", Group: "web-asg", Port: 112, Render: RenderKeepalived,
				States:     []string{awsapi.PendingWait, awsapi.InService},
				Keepalived: keepalivedTemplate(),
				Path:       filepath.Join(c.StateDir, "..", "keepalived.conf"), Check: []string{"keepalived-check"}, Reload: []string{"keepalived-reload"},
			},
		}
	})
	h.aws.set("web-servers", "i-0w2 10.0.2.20", "i-0w1 10.0.1.20")
	h.aws.set("web-asg", selfID+" "+selfIP, "i-0peer 10.0.2.10 Pending:Wait", "i-0gone 10.0.3.10 Terminating:Wait")
	h.rounds(1)
	h.wantRan("haproxy-check", "haproxy-reload", "keepalived-check", "keepalived-reload")

	backend := h.file(filepath.Join(h.dir, "backend.cfg"))
	if !strings.Contains(backend, "\nbackend be_web\n") ||
		!strings.HasSuffix(backend, "\n    server i-0w1 10.0.1.20:80\n    server i-0w2 10.0.2.20:80\n") {
		t.Errorf("HAProxy backend:\n%s", backend)
	}
	ka := h.file(filepath.Join(h.dir, "keepalived.conf"))
	for _, want := range []string{
		"router_id " + selfID + "\n",
		"unicast_src_ip " + selfIP + "\n",
		"unicast_peer {\n        10.0.2.10\n    }\n", // itself left out without ExcludeSelf
	} {
		if !strings.Contains(ka, want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, ka)
		}
	}
}

// With Unhealthy, a sick peer stays listed: keepalived must hear the
// priority-0 advert of a MASTER whose HAProxy failed.
func TestDiscoveryListsUnhealthyPeers(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Discover = []Discovery{{
			Name: "load balancers", Group: "lb-asg", Port: 80, Render: RenderKeepalived, Unhealthy: true,
			States:     []string{awsapi.InService, awsapi.TerminatingWait},
			Keepalived: keepalivedTemplate(),
			Path:       filepath.Join(c.StateDir, "..", "keepalived.conf"), Check: []string{"keepalived-check"}, Reload: []string{"keepalived-reload"},
		}}
	})
	h.aws.set("lb-asg", selfID+" "+selfIP, "i-0sick 10.0.2.10 InService Unhealthy", "i-0leaving 10.0.3.10 Terminating:Wait", "i-0new 10.0.4.10 Pending:Wait")
	h.rounds(1)
	ka := h.file(filepath.Join(h.dir, "keepalived.conf"))
	if want := "unicast_peer {\n        10.0.2.10\n        10.0.3.10\n    }\n"; !strings.Contains(ka, want) {
		t.Errorf("keepalived.conf lacks %q:\n%s", want, ka)
	}
	// Priorities are distinct and stable: the template's plus the last
	// byte of the node's address modulo 100 (10.0.1.10: 110), whoever the
	// peers are.
	if !strings.Contains(ka, "priority 110\n") {
		t.Errorf("want priority 110 for 10.0.1.10:\n%s", ka)
	}
	h.aws.set("lb-asg", selfID+" "+selfIP, "i-0low 10.0.1.9", "i-0sick 10.0.2.10 InService Unhealthy")
	h.rounds(1)
	if ka := h.file(filepath.Join(h.dir, "keepalived.conf")); !strings.Contains(ka, "priority 110\n") || !strings.Contains(ka, "10.0.1.9\n") {
		t.Errorf("a new peer changed this node's priority:\n%s", ka)
	}
}

// keepalivedTemplate is what a load balancer's configuration holds: the
// agent fills in the addresses and the router id.
func keepalivedTemplate() *lbconf.Keepalived {
	k := lbconf.ClusterKeepalived(lbconf.Node{Name: "lb", Priority: 100}, "", "", lbconf.Paths{
		LocalInclude: "/etc/keepalived/local.conf", CheckScript: "/usr/local/libexec/webstack/lb-check",
		NotifyMaster: "/usr/local/libexec/webstack/lb-takeover",
	})
	return &k
}

func TestHealthMarksUnhealthyAfterExactlyNFailures(t *testing.T) {
	h := newHarness(t, nil)
	h.launched()
	h.svc.health.Store(http.StatusServiceUnavailable)
	h.rounds(2)
	h.wantCalls()
	// A success resets the count.
	h.svc.health.Store(http.StatusOK)
	h.rounds(1)
	h.svc.health.Store(http.StatusServiceUnavailable)
	h.rounds(2)
	h.wantCalls()
	h.rounds(1)
	h.wantCalls(markUnhealthy)
	h.rounds(5)
	h.wantCalls(markUnhealthy)
	for s, n := range map[string]int{
		"health: ":                        4, // failed, answers again, failed, marked
		"failed (1 of 3)":                 2,
		"answers again, after 2 failures": 1,
		"3 failures in a row":             1,
	} {
		if got := h.logCount(s); got != n {
			t.Errorf("%d log lines with %q, want %d:\n%s", got, s, n, h.logs)
		}
	}
}

func TestHealthRetriesSetInstanceHealth(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Health.Failures = 1 })
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.healthErr = errors.New("connection reset") })
	h.svc.health.Store(http.StatusInternalServerError)
	h.rounds(2)
	h.aws.with(func(f *fakeAWS) { f.healthErr = nil })
	h.rounds(3)
	h.wantCalls(markUnhealthy, markUnhealthy, markUnhealthy)
}

// TestHealthOnlyOnceInService: no check before the launch hook is
// completed, nor while draining.
func TestHealthOnlyOnceInService(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.health.Store(http.StatusInternalServerError)
	h.rounds(5)
	h.wantCalls()
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.established(8080, 3)
	h.rounds(10)
	for _, c := range h.aws.made() {
		if strings.HasPrefix(c, "SetInstanceHealth") {
			t.Errorf("health checked while draining: %s", c)
		}
	}
}

func TestDrainWaitsForConnectionsThenQuiet(t *testing.T) {
	h := newHarness(t, nil)
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.established(8080, 3)
	start := h.clock.now()
	h.rounds(1) // 0 s: Drain.Before
	h.wantRan("before-cmd")
	h.rounds(9) // 2 … 18 s, with 3 connections
	h.proc.established(8080, 1)
	h.rounds(5) // 20 … 28 s, with 1: the last seen at 28 s
	h.wantCalls()
	h.wantRan()
	h.proc.established(8080, 0)
	// Quiet (10 s) must pass with no connection: rounds at 30 (with a
	// heartbeat: 30 s of draining), 32, 34, 36 s wait.
	for range 4 {
		h.rounds(1)
		h.wantCalls(heartbeat)
		h.wantRan()
	}
	drainedAt := h.clock.now().Sub(start)
	h.rounds(1) // 38 s: quiet for 10 s
	h.wantRan("after-cmd")
	h.wantCalls(heartbeat, continueTerminate)
	if drainedAt != 38*time.Second {
		t.Errorf("drained at %s, want 38 s (10 s after the last connection)", drainedAt)
	}
	h.rounds(5)
	h.wantRan()
	h.wantCalls(heartbeat, continueTerminate)
	for _, s := range []string{"draining: 3 connections to port 8080", "draining: 1 connections to port 8080", "drained: no connection to port 8080 for 10s", "completed the terminate hook terminate with CONTINUE"} {
		if h.logCount(s) != 1 {
			t.Errorf("%q not logged once", s)
		}
	}
}

// TestDrainQuietFromTheStart: with no connection at all, the host is
// drained Quiet after Drain.Before (the tier in front needs that long to
// drop it).
func TestDrainQuietFromTheStart(t *testing.T) {
	h := newHarness(t, nil)
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.rounds(5) // 0, 2, 4, 6, 8 s
	h.wantCalls()
	h.rounds(1) // 10 s
	h.wantCalls(continueTerminate)
	h.wantRan("before-cmd", "after-cmd")
}

func TestDrainTimeout(t *testing.T) {
	h := newHarness(t, nil)
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.established(8080, 7)
	h.rounds(60) // 0 .. 118 s
	h.wantCalls(heartbeat, heartbeat, heartbeat)
	h.rounds(1) // 120 s
	h.wantCalls(heartbeat, heartbeat, heartbeat, continueTerminate)
	h.wantRan("before-cmd", "after-cmd")
	if h.logCount("drain timed out after 2m0s: 7 connections to port 8080 still open") != 1 {
		t.Errorf("the timeout is not logged with the count:\n%s", h.logs)
	}
}

// TestDrainUnreadableProc: connections cannot be counted: wait until the
// timeout.
func TestDrainUnreadableProc(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Drain.Timeout = Duration(20 * time.Second) })
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.mu.Lock()
	h.proc.unavailable = true
	h.proc.mu.Unlock()
	h.rounds(10)
	h.wantCalls()
	h.rounds(1)
	h.wantCalls(continueTerminate)
	if h.logCount("cannot count connections") != 1 || h.logCount("an unknown number of connections") != 1 {
		t.Errorf("log:\n%s", h.logs)
	}
}

// TestDrainCompletionRetried: Before and After run once, whatever the
// hook's answers; "no active action" is done.
func TestDrainCompletionRetried(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Drain.Quiet = Duration(time.Second) })
	h.launched()
	h.aws.with(func(f *fakeAWS) {
		f.target = awsapi.Terminated
		f.completeErr = func(string, string) error { return errors.New("connection refused") }
	})
	h.rounds(4)
	h.aws.with(func(f *fakeAWS) { f.completeErr = func(string, string) error { return noActive } })
	h.rounds(4)
	h.wantRan("before-cmd", "after-cmd")
	h.wantCalls(continueTerminate, continueTerminate, continueTerminate, continueTerminate)
	if !h.agent.drain.done {
		t.Error("\"no active action\" on the terminate hook is not done")
	}
}

// TestDrainStopsDiscoveryAfterward: discovery goes on while draining
// (the hosts behind may change), not after Drain.After stopped the
// service.
func TestDrainStopsDiscoveryAfterward(t *testing.T) {
	h := newHarness(t, nil)
	h.launched()
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.established(8080, 1)
	h.rounds(1)
	h.aws.set("app-asg", "i-0app1 10.0.4.10", "i-0app2 10.0.4.11")
	h.rounds(1)
	h.wantRan("before-cmd", "check-cmd", "reload-cmd")
	// Drained, but the terminate hook cannot be completed yet: the agent
	// retries that, and nothing else (the service is stopped).
	h.aws.with(func(f *fakeAWS) {
		f.completeErr = func(string, string) error { return errors.New("connection refused") }
	})
	h.proc.established(8080, 0)
	h.rounds(6)
	h.wantRan("after-cmd")
	h.aws.with(func(f *fakeAWS) { f.describes = 0 })
	h.aws.set("app-asg", "i-0app3 10.0.4.12")
	h.rounds(3)
	h.wantRan()
	h.aws.with(func(f *fakeAWS) {
		if f.describes != 0 {
			t.Errorf("%d DescribeGroup calls after Drain.After", f.describes)
		}
	})
	if h.agent.drain.done || !strings.Contains(h.logs.String(), "completing the terminate hook terminate failed (retrying)") {
		t.Error("the failed completion is not retried")
	}
}

func TestCountEstablished(t *testing.T) {
	// Real lines of /proc/net/tcp and tcp6: a listener on 8080 (0A), two
	// connections to it (01), one in TIME_WAIT (06), one from this host to
	// another's 8080, one to port 80.
	tcp := procHeader +
		"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21613 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0A01000A:1F90 0A02000A:D6D8 01 00000000:00000000 02:000A7B6B 00000000     0        0 30111 2 0000000000000000 20 4 30 10 -1\n" +
		"   2: 0100007F:1F90 0100007F:B2A4 01 00000000:00000000 00:00000000 00000000     0        0 30112 1 0000000000000000 20 4 28 10 -1\n" +
		"   3: 0A01000A:1F90 0A02000A:D6DA 06 00000000:00000000 03:00001588 00000000     0        0 0 3 0000000000000000\n" +
		"   4: 0A01000A:B2A6 0A03000A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 30113 1 0000000000000000 20 4 28 10 -1\n" +
		"   5: 0A01000A:0050 0A02000A:D6DC 01 00000000:00000000 00:00000000 00000000     0        0 30114 1 0000000000000000 20 4 28 10 -1\n"
	tcp6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21614 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:B2A8 01 00000000:00000000 00:00000000 00000000     0        0 30115 1 0000000000000000 20 4 28 10 -1\n"
	for _, tc := range []struct {
		table string
		port  int
		want  int
	}{{tcp, 8080, 2}, {tcp, 80, 1}, {tcp, 443, 0}, {tcp6, 8080, 1}, {procHeader, 8080, 0}} {
		if got, err := countEstablished([]byte(tc.table), tc.port); err != nil || got != tc.want {
			t.Errorf("port %d: %d, %v; want %d", tc.port, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "garbage\n", procHeader + "   0: nonsense\n", procHeader + "   0: 0100007F:XYZ 0100007F:B2A4 01\n"} {
		if _, err := countEstablished([]byte(bad), 8080); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}

	// Through the agent: both files, tcp6 optional.
	p := &fakeProc{tcp: tcp, tcp6: tcp6}
	a := New(Config{}, nil, nil, nil, WithProcNet(p.read))
	if n, err := a.connections(8080); n != 3 || err != nil {
		t.Errorf("connections(8080) = %d, %v; want 3", n, err)
	}
	a = New(Config{}, nil, nil, nil, WithProcNet(func(path string) ([]byte, error) {
		if path == "/proc/net/tcp6" {
			return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
		}
		return []byte(tcp), nil
	}))
	if n, err := a.connections(8080); n != 2 || err != nil {
		t.Errorf("without tcp6: %d, %v; want 2", n, err)
	}
}

// TestConnectionsOfThisProcess counts real connections of this process's
// network namespace, through the real /proc/net/tcp and tcp6.
func TestConnectionsOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	a := New(Config{}, nil, nil, nil)
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "tcp6" {
				addr = "[::1]:0"
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Skipf("%s: %v", network, err)
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			var conns []net.Conn
			for range 2 {
				c, err := net.Dial(network, l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				s, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c, s)
			}
			if n, err := a.connections(port); n != 2 || err != nil {
				t.Errorf("with 2 connections to port %d: %d, %v", port, n, err)
			}
			for _, c := range conns {
				c.Close()
			}
			if n, err := a.connections(port); n != 0 || err != nil {
				t.Errorf("after closing them: %d, %v", n, err)
			}
		})
	}
}

// TestIdentityRetried: the id and IP are learned once, failures retried.
func TestIdentityRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.aws.with(func(f *fakeAWS) { f.mdErr = errors.New("IMDS timeout") })
	h.rounds(3)
	h.aws.with(func(f *fakeAWS) { f.mdErr, f.ec2Err = nil, errors.New("throttled") })
	h.rounds(3)
	if h.agent.ip != "" || h.logCount("cannot read the instance id") != 1 || h.logCount("cannot describe instance") != 1 {
		t.Errorf("identity: %q\n%s", h.agent.ip, h.logs)
	}
	h.aws.with(func(f *fakeAWS) { f.ec2Err = nil })
	h.rounds(2)
	if h.agent.id != selfID || h.agent.ip != selfIP || h.logCount("instance "+selfID+", private IP "+selfIP) != 1 {
		t.Errorf("identity: %q %q", h.agent.id, h.agent.ip)
	}
}

// TestRunStops: Run returns nil once its context is done.
func TestRunStops(t *testing.T) {
	h := newHarness(t, nil)
	h.ready()
	logs := &testtools.Buffer{}
	a := New(h.cfg, h.aws, h.aws, h.aws, WithInterval(5*time.Millisecond), WithRunner(h.run.run),
		WithProcNet(h.proc.read), WithHTTPClient(h.svc.srv.Client()), WithLogger(log.New(logs, "agent: ", 0)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "completed the launch hook") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if !strings.Contains(logs.String(), "completed the launch hook") || !strings.HasSuffix(logs.String(), "agent: stopped\n") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestEveryRunsWhileInService: Every runs each round once the launch
// hook is completed, never before nor while draining; what it prints is
// logged, a failure once until it succeeds again.
func TestEveryRunsWhileInService(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Every = [][]string{{"keep-cmd", "--arg"}} })
	h.rounds(1) // not ready yet: the service does not answer
	if ran := h.run.take(); slices.Contains(ran, "keep-cmd --arg") {
		t.Errorf("Every ran before the launch hook was completed: %v", ran)
	}
	h.launched()
	h.run.take()
	before := h.logCount("every: keep-cmd --arg: ok")
	h.rounds(3)
	h.wantRan("keep-cmd --arg", "keep-cmd --arg", "keep-cmd --arg")
	if n := h.logCount("every: keep-cmd --arg: ok") - before; n != 3 {
		t.Errorf("%d log lines of what the command printed, want 3:\n%s", n, h.logs)
	}
	h.run.failing("keep-cmd", "no address")
	h.rounds(3)
	h.run.take()
	if n := h.logCount("every: keep-cmd --arg failed"); n != 1 {
		t.Errorf("a failing command was logged %d times, want once:\n%s", n, h.logs)
	}
	h.run.failing("keep-cmd", "")
	h.aws.with(func(f *fakeAWS) { f.target = awsapi.Terminated })
	h.proc.established(8080, 1)
	h.rounds(2)
	if ran := h.run.take(); slices.Contains(ran, "keep-cmd --arg") {
		t.Errorf("Every ran while draining: %v", ran)
	}
}
