package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/foobar/webstack/internal/sandbox"
)

// Load is the data-plane load: wrk, 2 threads, 64 connections, 10 s.
const (
	loadConns    = 64
	loadDuration = 10 * time.Second
)

// wrkResult is what wrk reported.
type wrkResult struct {
	RPS       float64
	P50, P99  time.Duration
	Requests  int
	Non2xx    int
	SockErrs  int
	WebOpens  int // TCP connections the web servers accepted (HAProxy → nginx, health checks included)
	AppOpens  int // TCP connections the app servers accepted (nginx → app)
	Duration  time.Duration
	Scenario  string
	CheckOnly int // connections the health checks alone opened in the same time
}

func dataplane(ctx context.Context) error {
	if err := sandbox.Check(); err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("bench: wrk is not installed (Debian package wrk)")
	}
	cfg := sandbox.Config{Name: "wsbench", Subnet: "10.81.0.0/24", Web: 2, App: 2,
		Logf: func(f string, a ...any) { fmt.Printf("sandbox: "+f+"\n", a...) }}
	s, err := sandbox.Up(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := s.Down(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Printf("\n== The data plane in the sandbox (%s)\n", machine())
	fmt.Printf("load: wrk, 2 threads, %d connections, %s, from the client namespace\n\n", loadConns, loadDuration)

	app1 := s.InService("app")[0]
	idle, err := idleOpens(s, loadDuration)
	if err != nil {
		return err
	}
	runs := []struct{ name, url, host string }{
		{"static file through the VIP (/static/style.css)", s.URL() + "static/style.css", s.Config.SiteName},
		{"dynamic page through the VIP (/)", s.URL(), s.Config.SiteName},
		{"dynamic page straight at one app server (:8080/)", fmt.Sprintf("http://%s:%d/", app1.IP, sandbox.AppPort), ""},
	}
	var results []wrkResult
	for _, r := range runs {
		res, err := runWrk(s, r.name, r.url, r.host)
		if err != nil {
			return err
		}
		res.CheckOnly = idle
		results = append(results, res)
	}
	// What upstream keep-alive buys: the dynamic page again with nginx
	// opening a connection per request to the app servers.
	if err := setUpstreamKeepalive(s, false); err != nil {
		return err
	}
	noKA, err := runWrk(s, "dynamic page through the VIP, nginx upstream keep-alive OFF", s.URL(), s.Config.SiteName)
	if err != nil {
		return err
	}
	noKA.CheckOnly = idle
	if err := setUpstreamKeepalive(s, true); err != nil {
		return err
	}
	results = append(results, noKA)

	fmt.Printf("%-62s %9s %9s %9s %8s %12s %12s\n", "scenario", "req/s", "p50", "p99", "errors", "→nginx conns", "→app conns")
	for _, r := range results {
		fmt.Printf("%-62s %9.0f %9s %9s %8d %12s %12s\n", r.Scenario, r.RPS, ms(r.P50), ms(r.P99), r.Non2xx+r.SockErrs,
			fmt.Sprintf("%d (%d)", r.WebOpens, r.WebOpens-r.CheckOnly), strconv.Itoa(r.AppOpens))
	}
	chain, direct := results[1], results[2]
	fmt.Printf("\nchain/direct: %.0f%% of the app-direct requests/s (target ≥ 50%%)\n", 100*chain.RPS/direct.RPS)
	fmt.Printf("connections opened to upstreams during the chain run: HAProxy→nginx %d (%d of them health checks), nginx→app %d; the load held %d (target ≤ %d each)\n",
		chain.WebOpens, chain.CheckOnly, chain.AppOpens, loadConns, 2*loadConns)
	fmt.Printf("upstream keep-alive: %.0f req/s with, %.0f without (%.2f×); nginx→app connections %d with, %d without\n",
		chain.RPS, noKA.RPS, chain.RPS/noKA.RPS, chain.AppOpens, noKA.AppOpens)

	if err := dayTwo(ctx, s); err != nil {
		return err
	}
	return failover(ctx, s)
}

// clients is the load of the day-two and failover measurements: GET / in
// a loop, a new connection per request, every request counted.
const clients = 8

// dayTwo times rolls of the web and application groups at 2 and 4 hosts
// and a scaling step, under load.
func dayTwo(ctx context.Context, s *sandbox.Sandbox) error {
	fmt.Printf("\n== Day two under %d clients (GET /, a new connection per request)\n", clients)
	fmt.Printf("%-28s %8s %9s %9s %9s %9s\n", "change", "took", "requests", "failed", "p99 before", "p99 during")
	row := func(d sandbox.Disruption) {
		fmt.Printf("%-28s %7.1fs %9d %9d %9s %9s\n", d.Action, d.Took.Seconds(), d.Total.Requests, d.Total.Failed, ms(d.Before.P99), ms(d.During.P99))
	}
	for _, tier := range []string{"web", "app"} {
		for _, n := range []int{2, 4} {
			if err := s.Scale(ctx, tier, n); err != nil {
				return err
			}
			d, err := s.UnderLoad(fmt.Sprintf("roll %d %s hosts", n, tier), clients, func() error { return s.Roll(ctx, tier) })
			if err != nil {
				return err
			}
			row(d)
		}
		d, err := s.UnderLoad(fmt.Sprintf("scale %s 4 → 2", tier), clients, func() error { return s.Scale(ctx, tier, 2) })
		if err != nil {
			return err
		}
		row(d)
	}
	d, err := s.UnderLoad("scale web 2 → 4", clients, func() error { return s.Scale(ctx, "web", 4) })
	if err != nil {
		return err
	}
	row(d)
	if err := s.Scale(ctx, "web", 2); err != nil {
		return err
	}
	d, err = s.UnderLoad("roll the load-balancer pair", clients, func() error { return s.Roll(ctx, "lb") })
	if err != nil {
		return err
	}
	row(d)
	return nil
}

// failover measures crashes under load: a web server's nginx and an
// application server (each replaced by its group), the same without the
// retries that make them free, the database's restart and the load
// balancers' takeover.
func failover(ctx context.Context, s *sandbox.Sandbox) error {
	fmt.Println("\n== Failover")
	crash := func(tier, daemon string) (sandbox.Disruption, string, error) {
		victim := s.InService(tier)[0]
		var replacement string
		d, err := s.UnderLoad(victim.Name+"/"+daemon+" killed", clients, func() error {
			if err := s.Kill(victim.Name + "/" + daemon); err != nil {
				return err
			}
			var err error
			replacement, err = s.WaitReplaced(ctx, victim, 2*time.Minute)
			return err
		})
		return d, replacement, err
	}
	for _, c := range []struct{ tier, daemon string }{{"web", "nginx"}, {"app", "app"}} {
		d, repl, err := crash(c.tier, c.daemon)
		if err != nil {
			return err
		}
		fmt.Printf("%s (SIGKILL) under %d clients: %d of %d GETs failed; p99 before %s, during %s, max %s; replaced by %s after %.1f s\n",
			d.Action, clients, d.Total.Failed, d.Total.Requests, ms(d.Before.P99), ms(d.During.P99), ms(d.During.Max), repl, d.Took.Seconds())
	}
	// What the retries buy: the same crashes with them turned off.
	for _, a := range []struct {
		what, tier, file, victimTier, daemon string
		change                               func(string) string
	}{
		{"HAProxy's retry-on/redispatch/retries", "lb", "haproxy.cfg", "web", "nginx", func(c string) string {
			c = regexp.MustCompile(`(?m)^\s*retry-on .*\n`).ReplaceAllString(c, "")
			c = regexp.MustCompile(`(?m)^\s*option redispatch.*\n`).ReplaceAllString(c, "")
			return strings.Replace(c, "retries 3", "retries 0", 1)
		}},
		{"nginx's proxy_next_upstream", "web", "nginx.conf", "app", "app", func(c string) string {
			return regexp.MustCompile(`proxy_next_upstream [^;]+;`).ReplaceAllString(c, "proxy_next_upstream off;")
		}},
	} {
		if err := rewriteAndRestart(ctx, s, a.tier, a.file, a.change); err != nil {
			return err
		}
		d, _, err := crash(a.victimTier, a.daemon)
		if err != nil {
			return err
		}
		if err := rewriteAndRestart(ctx, s, a.tier, a.file, nil); err != nil {
			return err
		}
		fmt.Printf("  %s without %s: %d of %d GETs failed\n", d.Action, a.what, d.Total.Failed, d.Total.Requests)
	}

	db, err := s.MeasureDBRestart(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("database restart: first 503 after %s; first 200 %s after PostgreSQL is back; %d of %d acknowledged writes lost\n",
		ms(db.First503), ms(db.Recovered), db.Lost, db.Acked)
	f, err := s.MeasureFailover(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("load-balancer takeover: %s's HAProxy stopped → requests succeed via %s after %s; the group replaced %s with %s after %.1f s; the VIP stayed on %s: %v\n",
		f.From, f.To, ms(f.Gap), f.From, f.Replacement, f.Replaced.Seconds(), f.To, f.StayedOnNewMaster)
	return nil
}

var (
	rpsRe    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reqRe    = regexp.MustCompile(`(\d+) requests in`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockRe   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	pctRe    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
)

// runWrk loads url from the client namespace and counts the connections
// the web and app servers accepted meanwhile.
func runWrk(s *sandbox.Sandbox, name, url, host string) (wrkResult, error) {
	r := wrkResult{Scenario: name, Duration: loadDuration}
	webBefore, appBefore, err := passiveOpens(s)
	if err != nil {
		return r, err
	}
	args := []string{"wrk", "-t2", fmt.Sprintf("-c%d", loadConns), fmt.Sprintf("-d%ds", int(loadDuration.Seconds())), "--latency"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	out, err := s.InClient(append(args, url)...).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	webAfter, appAfter, err := passiveOpens(s)
	if err != nil {
		return r, err
	}
	r.WebOpens, r.AppOpens = webAfter-webBefore, appAfter-appBefore
	text := string(out)
	if m := rpsRe.FindStringSubmatch(text); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reqRe.FindStringSubmatch(text); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	if m := non2xxRe.FindStringSubmatch(text); m != nil {
		r.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := sockRe.FindStringSubmatch(text); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.SockErrs += n
		}
	}
	for _, m := range pctRe.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.RPS == 0 {
		return r, fmt.Errorf("wrk %s: no result in:\n%s", url, text)
	}
	return r, nil
}

// passiveOpens sums the TCP connections the web and the app namespaces have
// accepted so far (their own TcpPassiveOpens counters).
func passiveOpens(s *sandbox.Sandbox) (web, app int, err error) {
	for _, tier := range []string{"web", "app"} {
		for _, h := range s.Hosts(tier) {
			out, err := exec.Command("ip", "netns", "exec", h.NS(), "nstat", "-az", "--json", "TcpPassiveOpens").Output()
			if err != nil {
				return 0, 0, fmt.Errorf("nstat in %s: %w", h.NS(), err)
			}
			m := regexp.MustCompile(`"TcpPassiveOpens":\s*(\d+)`).FindSubmatch(out)
			if m == nil {
				return 0, 0, fmt.Errorf("nstat in %s: %s", h.NS(), out)
			}
			n, _ := strconv.Atoi(string(m[1]))
			if tier == "web" {
				web += n
			} else {
				app += n
			}
		}
	}
	return web, app, nil
}

// idleOpens is how many connections the health checks alone open to the
// web servers in d.
func idleOpens(s *sandbox.Sandbox, d time.Duration) (int, error) {
	before, _, err := passiveOpens(s)
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	after, _, err := passiveOpens(s)
	return after - before, err
}

// setUpstreamKeepalive turns nginx's upstream keep-alive on or off on every
// web server (rewriting the rendered nginx.conf) and reloads nginx.
func setUpstreamKeepalive(s *sandbox.Sandbox, on bool) error {
	off := func(c string) string {
		c = regexp.MustCompile(`(?m)^\s*keepalive(_timeout|_requests)? [^;]+;\n`).ReplaceAllString(c, "")
		return strings.ReplaceAll(c, `proxy_set_header Connection "";`, `proxy_set_header Connection "close";`)
	}
	if on {
		off = nil
	}
	for _, h := range s.Hosts("web") {
		if err := rewrite(filepath.Join(s.HostDir(h.Name), "nginx.conf"), off); err != nil {
			return err
		}
		pid, err := os.ReadFile(filepath.Join(s.HostDir(h.Name), "nginx.pid"))
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
		if err := syscall.Kill(n, syscall.SIGHUP); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second) // old workers finish, new ones take over
	return nil
}

// rewrite changes a rendered file, keeping the original beside it; with
// change == nil it puts the original back.
func rewrite(path string, change func(string) string) error {
	orig := path + ".orig"
	if change == nil {
		return os.Rename(orig, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(orig, b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(change(string(b))), 0o644)
}

// rewriteAndRestart changes a rendered file on every host of a tier
// (keeping the original) and restarts its daemon; with change == nil it
// puts the original back. Load balancers restart the backup first, so the
// VIP does not move.
func rewriteAndRestart(ctx context.Context, s *sandbox.Sandbox, tier, file string, change func(string) string) error {
	hosts := s.Hosts(tier)
	if tier == "lb" && len(hosts) == 2 && s.Master() == hosts[0].Name {
		hosts = []sandbox.Host{hosts[1], hosts[0]}
	}
	for _, h := range hosts {
		if err := rewrite(filepath.Join(s.HostDir(h.Name), file), change); err != nil {
			return err
		}
		id := h.Name + "/haproxy"
		if tier == "web" {
			id = h.Name + "/nginx"
		}
		if err := s.Stop(id); err != nil {
			return err
		}
		if err := s.Start(ctx, id); err != nil {
			return err
		}
	}
	return s.WaitPage(ctx, 10*time.Second)
}
