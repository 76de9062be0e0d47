package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/foobar/webstack/internal/sandbox"
)

// The data-plane load: wrk with 2 threads and 64 connections in all, for
// loadDuration per run, each pair of compared runs repeated rounds times,
// interleaved (A B, B A, A B …) so that the machine's other load hits
// both alike.
const (
	loadConns    = 64
	loadThreads  = 2
	loadDuration = 10 * time.Second
)

// Targets of the ratios make bench prints (issue #18): the whole chain on
// the path without the database against the same application servers
// loaded directly, and on the page with the database.
const (
	targetNoDBRatio  = 0.80                 // chain's requests/s ≥ 80 % of direct
	targetNoDBAddP50 = 2 * time.Millisecond // chain adds ≤ 2 ms to p50
	targetDBRatio    = 0.70                 // chain's requests/s ≥ 70 % of direct
)

// rounds is how often each pair of compared runs is repeated
// (bench dataplane -rounds).
var rounds = 3

// dataplane runs the parts named in args (load, daytwo, failover; all
// when none is named) in a sandbox of its own.
func dataplane(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	fs.IntVar(&rounds, "rounds", rounds, "rounds of each pair of compared runs (at least 1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if rounds < 1 {
		return fmt.Errorf("bench dataplane: -rounds %d: must be at least 1", rounds)
	}
	want := map[string]bool{}
	for _, p := range fs.Args() {
		if p != "load" && p != "daytwo" && p != "failover" {
			return fmt.Errorf("bench dataplane: unknown part %q (load, daytwo, failover)", p)
		}
		want[p] = true
	}
	all := len(want) == 0
	if err := sandbox.Check(); err != nil {
		return err
	}
	for _, tool := range []struct{ cmd, pkg string }{{"wrk", "wrk"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool.cmd); err != nil {
			return fmt.Errorf("bench: %s is not installed (Debian package %s; scripts/deps.sh bench)", tool.cmd, tool.pkg)
		}
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
	var targets []string
	if all || want["load"] {
		if targets, err = loadBench(s); err != nil {
			return err
		}
	}
	if all || want["daytwo"] {
		if err := dayTwo(ctx, s); err != nil {
			return err
		}
	}
	if all || want["failover"] {
		if err := failover(ctx, s); err != nil {
			return err
		}
	}
	// The load's targets again at the end, where a missed one is seen.
	if len(targets) > 0 && len(want) != 1 {
		fmt.Println("\n== The data plane's targets (from the load above)")
		for _, t := range targets {
			fmt.Println("  " + t)
		}
	}
	return nil
}

// uptime is the machine's load average, as uptime prints it.
func uptime() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// loadBench measures the chain against the same application servers
// loaded directly, with and without the database, in interleaved rounds,
// and prints the ratios with their targets. It returns the lines of the
// figures that have a target.
func loadBench(s *sandbox.Sandbox) ([]string, error) {
	fmt.Printf("\n== The data plane in the sandbox (%s)\n", machine())
	fmt.Printf("load: wrk, %d threads, %d connections in all, %s per run, from the client namespace; %d interleaved rounds\n",
		loadThreads, loadConns, loadDuration, rounds)
	fmt.Printf("load average before: %s\n\n", uptime())
	dir, err := os.MkdirTemp(s.Config.StateDir, "wrk")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "wrk.lua"), []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	counters, err := newConnCounters(s)
	if err != nil {
		return nil, err
	}
	apps := s.InService("app")
	site := s.Config.SiteName
	chain := func(path string, conns int) []target {
		return []target{{url: strings.TrimSuffix(s.URL(), "/") + path, host: site, conns: conns,
			threads: min(loadThreads, conns), duration: loadDuration, scriptDirectory: dir}}
	}
	// Direct: the same application servers the chain uses, each loaded by
	// its own wrk with its share of the connections and threads, at once.
	direct := func(path string, conns int) []target {
		var ts []target
		for _, h := range apps {
			ts = append(ts, target{url: fmt.Sprintf("http://%s:%d%s", h.IP, sandbox.AppPort, path),
				conns: max(1, conns/len(apps)), threads: max(1, loadThreads/len(apps)), duration: loadDuration, scriptDirectory: dir})
		}
		return ts
	}
	type pair struct {
		what          string
		chain, direct []target
	}
	// The third pair is the path without the database under light load,
	// one connection per application server: the latency the proxies add
	// when nothing queues for the CPU.
	pairs := []pair{
		{"no database (GET " + serverPath + ")", chain(serverPath, loadConns), direct(serverPath, loadConns)},
		{"database page (GET " + pagePath + ")", chain(pagePath, loadConns), direct(pagePath, loadConns)},
		{fmt.Sprintf("no database, light load (%d connections)", len(apps)), chain(serverPath, len(apps)), direct(serverPath, len(apps))},
	}
	// results[pair][round] = {chain, direct}
	results := make([][][2]load, len(pairs))
	for r := 0; r < rounds; r++ {
		for i, p := range pairs {
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			var got [2]load
			for _, k := range order {
				name := "through the VIP"
				ts := p.chain
				if k == 1 {
					name = fmt.Sprintf("straight at the %d application servers", len(apps))
					ts = p.direct
				}
				l, err := runLoad(s, counters, p.what+", "+name, ts)
				if err != nil {
					return nil, err
				}
				got[k] = l
				fmt.Printf("  round %d: %-70s %8.0f req/s  p50 %8s  p99 %8s  errors %d\n", r+1, l.Scenario, l.RPS, ms(l.P50), ms(l.P99), l.Errors)
			}
			results[i] = append(results[i], got)
		}
	}
	static, err := runLoad(s, counters, "static file through the VIP (GET "+staticPath+")", chain(staticPath, loadConns))
	if err != nil {
		return nil, err
	}
	// What upstream keep-alive buys: the path without the database again,
	// with nginx opening a connection per request to the app servers.
	if err := setUpstreamKeepalive(s, false); err != nil {
		return nil, err
	}
	noKA, err := runLoad(s, counters, pairs[0].what+", through the VIP, nginx upstream keep-alive OFF", pairs[0].chain)
	if err != nil {
		return nil, err
	}
	if err := setUpstreamKeepalive(s, true); err != nil {
		return nil, err
	}
	fmt.Printf("load average after: %s\n\n", uptime())

	// The table: the median round of each scenario.
	fmt.Printf("%-92s %9s %9s %9s %7s %17s\n", "scenario (median of the rounds' req/s)", "req/s", "p50", "p99", "errors", "→nginx/→app/→db")
	row := func(l load) {
		fmt.Printf("%-92s %9.0f %9s %9s %7d %17s\n", l.Scenario, l.RPS, ms(l.P50), ms(l.P99), l.Errors, l.Opens)
	}
	for i := range pairs {
		for k := 0; k < 2; k++ {
			var ls []load
			for _, r := range results[i] {
				ls = append(ls, r[k])
			}
			row(medianLoad(ls))
		}
	}
	row(static)
	row(noKA)
	fmt.Println("(→nginx: connections HAProxy opened to the web servers for requests, health checks not included;\n →app: connections the web servers opened to the application servers; →db: the application servers to the database)")

	fmt.Printf("\nWhere the time goes: CPU per request of each daemon (µs, median of the rounds), and in all\n")
	fmt.Printf("(sandbox = the sandbox's daemons and wrk; machine = every process, the other users' included, %% of one core of %d)\n", len(cpuLines()))
	perReq := func(ls []load) {
		l := medianLoad(ls)
		fmt.Printf("  %s: sandbox %.0f%%, machine %.0f%%\n    %s\n", l.Scenario, l.CPU.total(), l.MachineCPU, perRequest(ls))
	}
	for i := range pairs {
		for k := 0; k < 2; k++ {
			var ls []load
			for _, r := range results[i] {
				ls = append(ls, r[k])
			}
			perReq(ls)
		}
	}
	perReq([]load{static})

	fmt.Println("\nRatios (each round's chain against its direct run; median, and the rounds' range):")
	var lines []string
	noDB, db, light := results[0], results[1], results[2]
	rps := func(rs [][2]load) []float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, r[0].RPS/r[1].RPS)
		}
		return v
	}
	added := func(rs [][2]load, p99 bool) []float64 {
		var v []float64
		for _, r := range rs {
			if p99 {
				v = append(v, float64(r[0].P99-r[1].P99)/float64(time.Millisecond))
			} else {
				v = append(v, float64(r[0].P50-r[1].P50)/float64(time.Millisecond))
			}
		}
		return v
	}
	lines = append(lines,
		verdict("proxies, no database: chain/direct requests/s", rps(noDB), "%", 100, targetNoDBRatio*100, true),
		verdict("proxies, no database: p50 added by the chain", added(noDB, false), " ms", 1, float64(targetNoDBAddP50)/float64(time.Millisecond), false),
		verdict("proxies, no database: p99 added by the chain", added(noDB, true), " ms", 1, math.NaN(), false),
		verdict("proxies, no database, light load: p50 added", added(light, false), " ms", 1, float64(targetNoDBAddP50)/float64(time.Millisecond), false),
		verdict("proxies, no database, light load: p99 added", added(light, true), " ms", 1, math.NaN(), false),
		verdict("database page: chain/direct requests/s", rps(db), "%", 100, targetDBRatio*100, true),
		verdict("database page: p50 added by the chain", added(db, false), " ms", 1, math.NaN(), false),
	)
	// The database's own cost, on the same application servers without
	// proxies: the page against the path without the database.
	var dbRPS, dbP50, dbP99 []float64
	for r := range db {
		d, n := db[r][1], noDB[r][1]
		dbRPS = append(dbRPS, d.RPS/n.RPS)
		dbP50 = append(dbP50, float64(d.P50-n.P50)/float64(time.Millisecond))
		dbP99 = append(dbP99, float64(d.P99-n.P99)/float64(time.Millisecond))
	}
	lines = append(lines,
		verdict("the database's cost, direct: page/no-database requests/s", dbRPS, "%", 100, math.NaN(), true),
		verdict("the database's cost, direct: p50 added by the database", dbP50, " ms", 1, math.NaN(), false),
		verdict("the database's cost, direct: p99 added by the database", dbP99, " ms", 1, math.NaN(), false),
	)
	for _, l := range lines {
		fmt.Println("  " + l)
	}
	c := medianLoad(chainRuns(db))
	fmt.Printf("\nconnections opened to upstreams during the database page's chain run: HAProxy→nginx %s, nginx→app %s, against %d requests (the load held %d; target ≤ %d each)\n",
		count(c.Opens.ToWeb), count(c.Opens.ToApp), c.Requests, loadConns, 2*loadConns)
	n := medianLoad(chainRuns(noDB))
	fmt.Printf("upstream keep-alive, no database: %.0f req/s with, %.0f without (%.2f×); nginx→app connections %s with, %s without\n",
		n.RPS, noKA.RPS, n.RPS/noKA.RPS, count(n.Opens.ToApp), count(noKA.Opens.ToApp))
	var withTarget []string
	for _, l := range lines {
		if strings.Contains(l, "target") {
			withTarget = append(withTarget, l)
		}
	}
	return withTarget, nil
}

// chainRuns are the chain's loads of each round.
func chainRuns(rs [][2]load) []load {
	var ls []load
	for _, r := range rs {
		ls = append(ls, r[0])
	}
	return ls
}

// count prints a counter, "?" when unknown.
func count(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

// medianLoad is the load with the median requests/s (the lower of the two
// middle ones for an even count).
func medianLoad(ls []load) load {
	s := append([]load(nil), ls...)
	sort.Slice(s, func(i, j int) bool { return s[i].RPS < s[j].RPS })
	return s[(len(s)-1)/2]
}

// median of values (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// verdict prints a measured figure over rounds — median and range, scaled
// by scale, in unit — against its target (NaN: none). atLeast: the target
// is a floor, else a ceiling. A figure on the wrong side of its target
// says BELOW TARGET (or ABOVE TARGET for a ceiling) in capitals.
func verdict(what string, rounds []float64, unit string, scale, target float64, atLeast bool) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range rounds {
		lo, hi = math.Min(lo, v*scale), math.Max(hi, v*scale)
	}
	m := median(rounds) * scale
	text := fmt.Sprintf("%-62s %7.1f%s (rounds %.1f to %.1f)", what, m, unit, lo, hi)
	switch {
	case math.IsNaN(target):
	case atLeast && m >= target:
		text += fmt.Sprintf("  target ≥ %g%s: met", target, unit)
	case atLeast:
		text += fmt.Sprintf("  target ≥ %g%s: BELOW TARGET", target, unit)
	case m <= target:
		text += fmt.Sprintf("  target ≤ %g%s: met", target, unit)
	default:
		text += fmt.Sprintf("  target ≤ %g%s: ABOVE TARGET", target, unit)
	}
	return text
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
	}
	return reloadNginx(s)
}

// reloadNginx reloads nginx on every web server and waits for the old
// workers to finish.
func reloadNginx(s *sandbox.Sandbox) error {
	for _, h := range s.Hosts("web") {
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
