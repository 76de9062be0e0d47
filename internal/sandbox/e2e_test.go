package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
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

// nodeLoss kills one daemon under load and asserts that no GET failed.
func nodeLoss(t *testing.T, s *sandbox.Sandbox, id string) {
	r, err := s.MeasureNodeLoss(context.Background(), id, 8)
	if err != nil {
		t.Fatal(err)
	}
	testtools.Report(t, "%s killed under 8 clients: before: %v; after: %v", id, r.Before, r.After)
	if r.After.Failed > 0 || r.After.Requests == 0 {
		t.Errorf("%d GETs failed after %s died (first: %s); want none", r.After.Failed, id, r.After.FirstError)
	}
}

// TestE2E runs the five scenarios of the diagram on one sandbox.
func TestE2E(t *testing.T) {
	s := startSandbox(t)
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
		for _, app := range []string{"app1/app", "app2/app"} {
			if err := s.Stop(app); err != nil {
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
		for _, app := range []string{"app1/app", "app2/app"} {
			if err := s.Start(context.Background(), app); err != nil {
				t.Fatal(err)
			}
		}
		// nginx counted the dead app servers as failed (max_fails) and
		// answers 502 for up to fail_timeout (5 s) on each web server: wait
		// until every request succeeds again before the next scenario.
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

	t.Run("web server loss costs no GET", func(t *testing.T) { nodeLoss(t, s, "web1/nginx") })
	t.Run("app server loss costs no GET", func(t *testing.T) { nodeLoss(t, s, "app1/app") })

	t.Run("database restart", func(t *testing.T) {
		r, err := s.MeasureDBRestart(context.Background())
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

	t.Run("load balancer failover", func(t *testing.T) {
		if m := s.Master(); m != "lb1" {
			t.Fatalf("VIP on %q at start, want lb1", m)
		}
		f, err := s.MeasureFailover(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		testtools.Report(t, "%s's HAProxy stopped: VIP on %s and requests succeed again after %v (one client meanwhile: %v)", f.From, f.To, f.Gap.Round(time.Millisecond), f.During)
		if f.To != "lb2" || f.Gap > 5*time.Second {
			t.Errorf("failover to %q after %v; want lb2 within 5 s", f.To, f.Gap)
		}
		if !f.StayedAfterRecovery {
			t.Errorf("after lb1 recovered the VIP is on %q; nopreempt should keep it on lb2", s.Master())
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
		select {} // until killed
	}
	os.Exit(m.Run())
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
