package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/sandbox"
	"github.com/foobar/webstack/internal/testtools"
)

// E2EEnv turns the end-to-end tests on; CI sets it (with
// WEBSTACK_REQUIRE_TOOLS=1, which makes missing root or programs a failure).
const E2EEnv = "WEBSTACK_E2E"

// startSandbox brings a sandbox up for the test (its own name and subnet,
// so a sandbox you are running is left alone) and checks on cleanup that
// tearing it down leaves nothing.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	if os.Getenv(E2EEnv) != "1" {
		t.Skipf("end-to-end tests run the whole diagram as root: set %s=1 (after make sandbox-deps)", E2EEnv)
	}
	testtools.NeedRoot(t)
	if err := sandbox.Check(); err != nil {
		if testtools.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cfg := sandbox.Config{Name: "wse2e", Subnet: "10.78.0.0/24", Web: 2, App: 2, Logf: t.Logf}
	start := time.Now()
	s, err := sandbox.Up(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testtools.Report(t, "sandbox up, page served through the VIP, in %.1f s", time.Since(start).Seconds())
	t.Cleanup(func() {
		start := time.Now()
		if err := s.Down(); err != nil {
			t.Error(err)
		}
		if left := sandbox.Leftovers(cfg); len(left) > 0 {
			t.Errorf("teardown left %v", left)
		}
		testtools.Report(t, "teardown in %.1f s, nothing left", time.Since(start).Seconds())
	})
	return s
}

// clients is the load of every scenario: each client sends GET / on a new
// connection as soon as its last one answered.
const clients = 8

// noFailure runs an action under load and asserts that no request failed,
// counting those in flight when it began and ended.
func noFailure(t *testing.T, s *sandbox.Sandbox, name string, action func() error) sandbox.Disruption {
	t.Helper()
	d, err := s.UnderLoad(name, clients, action)
	testtools.Report(t, "%v", d)
	if err != nil {
		t.Fatal(err)
	}
	if d.During.Requests == 0 {
		t.Errorf("no request ended while %s ran: the load did not cover it", name)
	}
	if d.Total.Failed > 0 {
		t.Errorf("%d of %d requests failed (first: %s); want none", d.Total.Failed, d.Total.Requests, d.Total.FirstError)
	}
	return d
}

// names are the names of hosts.
func names(hs []sandbox.Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// TestE2E runs the diagram's scenarios on one sandbox: the page through
// the whole chain, day-two changes and failures under load at zero failed
// requests, the database's restart and the load balancers' failover.
func TestE2E(t *testing.T) {
	s := startSandbox(t)
	ctx := context.Background()
	c := s.Client(false, 5*time.Second)

	t.Run("page through VIP, HAProxy, nginx, app and PostgreSQL", func(t *testing.T) {
		seen := map[string]bool{}
		var last int
		for i := 0; i < 6; i++ {
			status, h, body, err := s.Get(c, "/")
			if err != nil || status != http.StatusOK {
				t.Fatalf("GET / = %d, %v", status, err)
			}
			app := h.Get("X-Webstack-App")
			seen[app] = true
			if !strings.Contains(body, "www.foobar.com") || !strings.Contains(body, "Served by application server <strong>"+app+"</strong>") {
				t.Fatalf("page does not name its app server %q:\n%s", app, body)
			}
			var n int
			if _, err := fmt.Sscanf(body[strings.Index(body, `id="visit">`)+len(`id="visit">`):], "%d", &n); err != nil || n <= last {
				t.Errorf("visit number %d after %d: the counter lives in the database", n, last)
			}
			last = n
		}
		if len(seen) != 2 {
			t.Errorf("pages came from %v; nginx should spread them over both app servers", seen)
		}
	})

	t.Run("static files from nginx alone", func(t *testing.T) {
		apps := s.Hosts("app")
		for _, a := range apps {
			if err := s.Stop(a.Name + "/app"); err != nil {
				t.Fatal(err)
			}
		}
		status, h, body, err := s.Get(c, "/static/style.css")
		if err != nil || status != http.StatusOK || h.Get("X-Webstack-App") != "" || !strings.Contains(h.Get("Cache-Control"), "max-age") || len(body) == 0 {
			t.Errorf("with every app server down, /static/style.css = %d %v (app %q, cache %q)", status, err, h.Get("X-Webstack-App"), h.Get("Cache-Control"))
		}
		status, _, body, _ = s.Get(c, "/")
		if status < 500 || !strings.Contains(body, "short break") {
			t.Errorf("with every app server down, / = %d; want the friendly error page", status)
		}
		for _, a := range apps {
			if err := s.Start(ctx, a.Name+"/app"); err != nil {
				t.Fatal(err)
			}
		}
		// The agents may have marked the stopped servers unhealthy and the
		// group replaced them; either way the tier must be whole again,
		// and nginx, which counted them as failed (max_fails), must answer
		// every request before the next scenario.
		if err := s.WaitStable(ctx, "app", time.Minute); err != nil {
			t.Fatal(err)
		}
		steady := 0
		for deadline := time.Now().Add(15 * time.Second); steady < 40 && time.Now().Before(deadline); {
			if status, _, _, _ := s.Get(c, "/"); status == http.StatusOK {
				steady++
			} else {
				steady = 0
				time.Sleep(100 * time.Millisecond)
			}
		}
		if steady < 40 {
			t.Fatal("the site did not recover once the app servers were back")
		}
	})

	t.Run("scale web 2 to 4 and back to 2", func(t *testing.T) {
		for _, n := range []int{4, 2} {
			noFailure(t, s, fmt.Sprintf("scale web to %d", n), func() error { return s.Scale(ctx, "web", n) })
			if got := len(s.InService("web")); got != n {
				t.Errorf("%d web servers in service, want %d", got, n)
			}
			if t.Failed() {
				return
			}
		}
	})

	for _, tier := range []string{"web", "app"} {
		t.Run("roll every "+tier+" host", func(t *testing.T) {
			old := names(s.InService(tier))
			noFailure(t, s, "roll "+tier, func() error { return s.Roll(ctx, tier) })
			now := names(s.InService(tier))
			for _, o := range old {
				if slices.Contains(now, o) {
					t.Errorf("%s still in service after the roll (%v → %v)", o, old, now)
				}
			}
			if len(now) != len(old) {
				t.Errorf("%d hosts in service after the roll, want %d", len(now), len(old))
			}
		})
	}

	t.Run("a web server's nginx killed", func(t *testing.T) {
		victim := s.InService("web")[0]
		var replacement string
		noFailure(t, s, "kill "+victim.Name+"'s nginx", func() error {
			if err := s.Kill(victim.Name + "/nginx"); err != nil {
				return err
			}
			var err error
			replacement, err = s.WaitReplaced(ctx, victim, 2*time.Minute)
			return err
		})
		testtools.Report(t, "%s marked itself unhealthy and the group replaced it with %s", victim.Name, replacement)
	})

	t.Run("an application server killed", func(t *testing.T) {
		victim := s.InService("app")[0]
		var replacement string
		noFailure(t, s, "kill "+victim.Name, func() error {
			if err := s.KillHost(victim.Name); err != nil {
				return err
			}
			var err error
			replacement, err = s.WaitReplaced(ctx, victim, 2*time.Minute)
			return err
		})
		testtools.Report(t, "%s died and the group replaced it with %s", victim.Name, replacement)
	})

	t.Run("a new host that never gets healthy", func(t *testing.T) {
		r, err := s.MeasureNeverHealthy(ctx, "app", clients)
		testtools.Report(t, "%v; abandoned %v", r.Disruption, r.Abandoned)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Listed) > 0 {
			t.Errorf("the web servers listed %v, which never got ready", r.Listed)
		}
		if r.Total.Failed > 0 {
			t.Errorf("%d of %d requests failed (first: %s); want none", r.Total.Failed, r.Total.Requests, r.Total.FirstError)
		}
		noFailure(t, s, "scale app back to 2", func() error { return s.Scale(ctx, "app", 2) })
	})

	t.Run("database restart", func(t *testing.T) {
		r, err := s.MeasureDBRestart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		testtools.Report(t, "database stopped: first 503 after %v; started: first 200 after %v; %d of %d acknowledged writes lost",
			r.First503.Round(time.Millisecond), r.Recovered.Round(time.Millisecond), r.Lost, r.Acked)
		if r.First503 == 0 {
			t.Error("the site did not answer 503 while the database was down")
		}
		if !r.AppsSurvived {
			t.Error("an application server died with the database")
		}
		if r.Recovered == 0 || r.Recovered > 5*time.Second {
			t.Errorf("recovered after %v; want within 5 s", r.Recovered)
		}
		if r.Lost > 0 {
			t.Errorf("%d acknowledged writes lost", r.Lost)
		}
	})

	t.Run("roll the load balancers", func(t *testing.T) {
		// The pair is replaced one node at a time, so one of them always
		// holds the address. Moving it costs the requests in flight at that
		// instant (their connections were to the old node; on AWS too, the
		// Elastic IP's nature): at most one per client per move.
		old := names(s.InService("lb"))
		holders := []string{s.Master()}
		var vipless time.Duration
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			var since time.Time
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				m := s.Master()
				switch {
				case m == "" && since.IsZero():
					since = time.Now()
				case m != "" && !since.IsZero():
					vipless = max(vipless, time.Since(since))
					since = time.Time{}
				}
				if m != "" && m != holders[len(holders)-1] {
					holders = append(holders, m)
				}
			}
		}()
		d, err := s.UnderLoad("roll lb", clients, func() error { return s.Roll(ctx, "lb") })
		close(stop)
		<-sampled
		moves := len(holders) - 1
		testtools.Report(t, "%v; the VIP moved %d times (%v), never without a holder for more than %v",
			d, moves, holders, vipless.Round(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		now := names(s.InService("lb"))
		for _, o := range old {
			if slices.Contains(now, o) {
				t.Errorf("%s still in service after the roll (%v → %v)", o, old, now)
			}
		}
		if m := s.Master(); !slices.Contains(now, m) {
			t.Errorf("the VIP is on %q, not on the new pair %v", m, now)
		}
		zones := map[string]bool{}
		for _, h := range s.InService("lb") {
			zones[h.Zone] = true
		}
		if len(zones) != 2 {
			t.Errorf("the new pair is in zones %v; it must span two", zones)
		}
		if moves < 1 || moves > 2 {
			t.Errorf("the VIP moved %d times (%v); a roll of the pair moves it once or twice", moves, holders)
		}
		if vipless > 0 {
			t.Errorf("no load balancer held the VIP for %v; the address must stay until the new MASTER takes it", vipless)
		}
		if d.Total.Failed > clients*moves {
			t.Errorf("%d of %d requests failed (first: %s); want at most %d (those in flight at each move)", d.Total.Failed, d.Total.Requests, d.Total.FirstError, clients*moves)
		}
	})

	t.Run("load balancer failover", func(t *testing.T) {
		f, err := s.MeasureFailover(ctx)
		testtools.Report(t, "%s's HAProxy stopped: VIP on %s and requests succeed again after %v; the group replaced %s with %s after %v",
			f.From, f.To, f.Gap.Round(time.Millisecond), f.From, f.Replacement, f.Replaced.Round(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if f.Gap > 5*time.Second {
			t.Errorf("failover after %v; want within 5 s", f.Gap)
		}
		if !f.StayedOnNewMaster {
			t.Errorf("once %s joined the VIP is on %q; nopreempt should keep it on %s", f.Replacement, s.Master(), f.To)
		}
		if status, _, _, err := s.Get(c, "/"); err != nil || status != http.StatusOK {
			t.Errorf("after failover GET / = %d %v", status, err)
		}
	})
}

// childEnv makes the test binary run a sandbox instead of the tests, so a
// test can crash it (TestDownRemovesWhatACrashedSandboxLeft).
const childEnv = "WEBSTACK_SANDBOX_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		name, subnet, _ := strings.Cut(v, ",")
		s, err := sandbox.Up(context.Background(), sandbox.Config{Name: name, Subnet: subnet, Web: 1, App: 1})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("sandbox %s is up at %s\n", name, s.URL())
		// Until killed (a crash), or told to stop (SIGTERM, as sandbox down
		// sends): then it tears itself down, as the sandbox command does.
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		<-term
		if err := s.Down(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("sandbox torn down")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sandbox down while a sandbox of its name runs in another process (make
// sandbox-down beside make sandbox): the running one is asked to tear
// itself down, and does; nothing is left.
func TestDownStopsARunningSandbox(t *testing.T) {
	if os.Getenv(E2EEnv) != "1" {
		t.Skipf("set %s=1", E2EEnv)
	}
	testtools.NeedRoot(t)
	cfg := sandbox.Config{Name: "wsdown", Subnet: "10.79.0.0/24", Web: 1, App: 1, Logf: t.Logf}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfg.Name+","+cfg.Subnet)
	var out testtools.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	for end := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), "is up"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("sandbox did not come up:\n%s", out.String())
		}
	}
	if err := sandbox.Down(cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || !strings.Contains(out.String(), "sandbox torn down") {
			t.Errorf("the running sandbox exited with %v:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the running sandbox is still running after Down:\n%s", out.String())
	}
	if left := sandbox.Leftovers(cfg); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}

// A crashed sandbox (its daemons and namespaces left behind, nothing in
// memory) is cleaned up by Down from what it finds on the machine.
func TestDownRemovesWhatACrashedSandboxLeft(t *testing.T) {
	if os.Getenv(E2EEnv) != "1" {
		t.Skipf("set %s=1", E2EEnv)
	}
	testtools.NeedRoot(t)
	cfg := sandbox.Config{Name: "wscrash", Subnet: "10.79.0.0/24", Web: 1, App: 1}
	// Run a sandbox in a child process (this test binary, see TestMain) and
	// kill it without warning.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfg.Name+","+cfg.Subnet)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var text string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(text, "is up") && time.Now().Before(deadline) {
		n, err := out.Read(buf)
		text += string(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(text, "is up") {
		cmd.Process.Kill()
		t.Fatalf("sandbox did not come up:\n%s", text)
	}
	cmd.Process.Kill() // a crash: no teardown
	cmd.Wait()
	if left := sandbox.Leftovers(cfg); len(left) == 0 {
		t.Fatal("the crashed sandbox left nothing; the test is not testing anything")
	}
	if err := sandbox.Down(cfg); err != nil {
		t.Fatal(err)
	}
	if left := sandbox.Leftovers(cfg); len(left) > 0 {
		t.Errorf("down left %v", left)
	}
	if b, _ := exec.Command("pgrep", "-f", "/run/"+cfg.Name+"-sandbox").Output(); len(strings.TrimSpace(string(b))) > 0 {
		t.Errorf("processes of the crashed sandbox survive: %s", b)
	}
}
