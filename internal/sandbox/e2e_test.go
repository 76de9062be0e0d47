package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/sandbox"
	"github.com/foobar/webstack/internal/testtools"
)

// E2EEnv turns the end-to-end tests on; CI sets it (with
// WEBSTACK_REQUIRE_TOOLS=1, which makes missing root or programs a failure).
const E2EEnv = "WEBSTACK_E2E"

// ReportEnv names a file the tests append their measurements to.
const ReportEnv = "WEBSTACK_E2E_REPORT"

// report records a measurement: in the test log and in the report file.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if path := os.Getenv(ReportEnv); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s: %s\n", t.Name(), line)
			f.Close()
		}
	}
}

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
	report(t, "sandbox up, page served through the VIP, in %.1f s", time.Since(start).Seconds())
	t.Cleanup(func() {
		start := time.Now()
		if err := s.Down(); err != nil {
			t.Error(err)
		}
		if left := sandbox.Leftovers(cfg); len(left) > 0 {
			t.Errorf("teardown left %v", left)
		}
		report(t, "teardown in %.1f s, nothing left", time.Since(start).Seconds())
	})
	return s
}

// get fetches a path of the site through the VIP, as a client would.
func get(c *http.Client, s *sandbox.Sandbox, path string) (int, http.Header, string, error) {
	req, _ := http.NewRequest(http.MethodGet, s.URL()+strings.TrimPrefix(path, "/"), nil)
	req.Host = s.Config.SiteName
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// load sends GETs of path from several workers until stop is closed and
// returns every result.
type result struct {
	at      time.Time
	latency time.Duration
	status  int
	err     error
}

func load(s *sandbox.Sandbox, path string, workers int, stop <-chan struct{}) []result {
	c := s.Client(false, 5*time.Second)
	var mu sync.Mutex
	var out []result
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				status, _, _, err := get(c, s, path)
				mu.Lock()
				out = append(out, result{start, time.Since(start), status, err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// summary counts failures and the latency of a run.
func summary(rs []result) (ok, failed int, p50, p99, max time.Duration, firstErr string) {
	var lat []time.Duration
	for _, r := range rs {
		if r.err == nil && r.status == http.StatusOK {
			ok++
		} else {
			failed++
			if firstErr == "" {
				firstErr = fmt.Sprintf("status %d, %v", r.status, r.err)
			}
		}
		lat = append(lat, r.latency)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		p50, p99, max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return
}

// nodeLoss runs a steady load, kills one daemon in the middle and returns
// the results, restarting the daemon afterwards.
func nodeLoss(t *testing.T, s *sandbox.Sandbox, id string) {
	stop := make(chan struct{})
	done := make(chan []result)
	go func() { done <- load(s, "/", 8, stop) }()
	time.Sleep(2 * time.Second)
	if err := s.Kill(id); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	time.Sleep(4 * time.Second)
	close(stop)
	rs := <-done
	var before, after []result
	for _, r := range rs {
		if r.at.Before(killed) {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	_, _, b50, b99, _, _ := summary(before)
	ok, failed, a50, a99, amax, firstErr := summary(after)
	report(t, "%s killed during %d GETs from 8 clients: %d failed; latency before p50 %v p99 %v, after p50 %v p99 %v max %v",
		id, len(rs), failed, b50.Round(time.Millisecond), b99.Round(time.Millisecond), a50.Round(time.Millisecond), a99.Round(time.Millisecond), amax.Round(time.Millisecond))
	if failed > 0 || ok == 0 {
		t.Errorf("%d GETs failed after %s died (first: %s); want none", failed, id, firstErr)
	}
	if err := s.Start(context.Background(), id); err != nil {
		t.Fatal(err)
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
			status, h, body, err := get(c, s, "/")
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
		status, h, body, err := get(c, s, "/static/style.css")
		if err != nil || status != http.StatusOK || h.Get("X-Webstack-App") != "" || !strings.Contains(h.Get("Cache-Control"), "max-age") || len(body) == 0 {
			t.Errorf("with every app server down, /static/style.css = %d %v (app %q, cache %q)", status, err, h.Get("X-Webstack-App"), h.Get("Cache-Control"))
		}
		status, _, body, _ = get(c, s, "/")
		if status < 500 || !strings.Contains(body, "short break") {
			t.Errorf("with every app server down, / = %d; want the friendly error page", status)
		}
		for _, app := range []string{"app1/app", "app2/app"} {
			if err := s.Start(context.Background(), app); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WaitPage(context.Background(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("web server loss costs no GET", func(t *testing.T) { nodeLoss(t, s, "web1/nginx") })
	t.Run("app server loss costs no GET", func(t *testing.T) { nodeLoss(t, s, "app1/app") })

	t.Run("database restart", func(t *testing.T) {
		// Writes acknowledged before the restart.
		var acked []int
		for i := 0; i < 20; i++ {
			status, _, body, err := get(c, s, "/api/visit")
			var v struct{ ID int }
			if err != nil || status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
				t.Fatalf("GET /api/visit = %d %v %s", status, err, body)
			}
			acked = append(acked, v.ID)
		}
		if err := s.Stop("db/postgres"); err != nil {
			t.Fatal(err)
		}
		down := time.Now()
		var got503 bool
		for time.Since(down) < 10*time.Second && !got503 {
			status, _, _, _ := get(c, s, "/")
			got503 = status == http.StatusServiceUnavailable
		}
		if !got503 {
			t.Error("the site did not answer 503 while the database was down")
		}
		report(t, "database down: the site answers 503 after %v", time.Since(down).Round(time.Millisecond))
		if !s.Running("app1/app") || !s.Running("app2/app") {
			t.Error("an app server died with the database")
		}
		if err := s.Start(context.Background(), "db/postgres"); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		recovered := false
		for time.Since(back) < 10*time.Second {
			if status, _, _, _ := get(c, s, "/"); status == http.StatusOK {
				recovered = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(back)
		report(t, "database back: the site answers 200 again after %v", took.Round(time.Millisecond))
		if !recovered || took > 5*time.Second {
			t.Errorf("recovered %v after %v; want within 5 s", recovered, took)
		}
		for _, id := range acked {
			if status, _, body, err := get(c, s, fmt.Sprintf("/api/visits/%d", id)); err != nil || status != http.StatusOK {
				t.Errorf("acknowledged visit %d lost: %d %v %s", id, status, err, body)
			}
		}
	})

	t.Run("load balancer failover", func(t *testing.T) {
		if m := s.Master(); m != "lb1" {
			t.Fatalf("VIP on %q at start, want lb1", m)
		}
		stop := make(chan struct{})
		done := make(chan []result)
		go func() { done <- load(s, "/healthz", 1, stop) }()
		time.Sleep(time.Second)
		if err := s.Stop("lb1/haproxy"); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		var gap time.Duration
		for time.Since(stopped) < 15*time.Second {
			if s.Master() == "lb2" {
				if status, _, _, err := get(c, s, "/healthz"); err == nil && status == http.StatusOK {
					gap = time.Since(stopped)
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		close(stop)
		rs := <-done
		_, failed, _, _, _, _ := summary(rs)
		report(t, "lb1's HAProxy stopped: VIP on lb2 and requests succeed again after %v (%d of %d requests failed meanwhile)", gap.Round(time.Millisecond), failed, len(rs))
		if gap == 0 || gap > 5*time.Second {
			t.Errorf("failover gap %v; want at most 5 s (master now %q)", gap, s.Master())
		}
		// lb1 recovers as BACKUP: nopreempt keeps the VIP where it is.
		if err := s.Start(context.Background(), "lb1/haproxy"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		if m := s.Master(); m != "lb2" {
			t.Errorf("after lb1 recovered the VIP is on %q; nopreempt should keep it on lb2", m)
		}
		if status, _, _, err := get(c, s, "/"); err != nil || status != http.StatusOK {
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
