package main

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/internal/sandbox"
)

// Paths the load asks for. serverPath is the application's dynamic path
// without the database (app/server.go, GET /api/server); pagePath its page,
// which inserts a row and reads the latest ones on every GET.
const (
	serverPath = "/api/server"
	pagePath   = "/"
	staticPath = "/static/style.css"
)

// wrkScript makes wrk print what the bench parses: the totals, and the
// latency distribution at enough percentiles to merge two runs' (direct
// load on two application servers) into one. Latencies are microseconds.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WS summary %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  for p = 1, 99 do
    io.write(string.format("WS pct %g %d\n", p, latency:percentile(p)))
  end
  for _, p in ipairs({99.5, 99.9}) do
    io.write(string.format("WS pct %g %d\n", p, latency:percentile(p)))
  end
  -- Not percentile(100): wrk answers 0 there.
  io.write(string.format("WS pct 100 %d\n", latency.max))
end
`

// target is one wrk process: its URL, Host header ("" = none) and share
// of the connections and threads.
type target struct {
	url, host       string
	conns, threads  int
	duration        time.Duration
	scriptDirectory string
}

// dist is one wrk run's latency distribution: n requests, and the latency
// (µs) at each percentile p (ascending).
type dist struct {
	n   int
	pct []pctPoint
}

type pctPoint struct{ p, us float64 }

// wrkRun is what one wrk process reported.
type wrkRun struct {
	requests int
	seconds  float64
	errors   int // connect, read, write, timeout and non-2xx/3xx
	dist     dist
}

var (
	summaryRe = regexp.MustCompile(`(?m)^WS summary (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$`)
	pctLineRe = regexp.MustCompile(`(?m)^WS pct ([\d.]+) (\d+)$`)
)

// parseWrk reads the lines wrkScript prints.
func parseWrk(out string) (wrkRun, error) {
	m := summaryRe.FindStringSubmatch(out)
	if m == nil {
		return wrkRun{}, fmt.Errorf("no summary in wrk's output:\n%s", out)
	}
	var v [7]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	r := wrkRun{requests: v[0], seconds: float64(v[1]) / 1e6, errors: v[2] + v[3] + v[4] + v[5] + v[6]}
	r.dist.n = r.requests
	for _, m := range pctLineRe.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.ParseFloat(m[1], 64)
		us, _ := strconv.ParseFloat(m[2], 64)
		r.dist.pct = append(r.dist.pct, pctPoint{p, us})
	}
	if len(r.dist.pct) == 0 || r.seconds <= 0 {
		return wrkRun{}, fmt.Errorf("no latency distribution in wrk's output:\n%s", out)
	}
	sort.Slice(r.dist.pct, func(i, j int) bool { return r.dist.pct[i].p < r.dist.pct[j].p })
	for i := 1; i < len(r.dist.pct); i++ {
		if r.dist.pct[i].us < r.dist.pct[i-1].us {
			return wrkRun{}, fmt.Errorf("wrk's latency percentiles fall at p%g (%g µs after %g µs):\n%s",
				r.dist.pct[i].p, r.dist.pct[i].us, r.dist.pct[i-1].us, out)
		}
	}
	return r, nil
}

// cdf is the share (0..1) of d's requests at or below us, interpolated
// linearly between its percentiles.
func (d dist) cdf(us float64) float64 {
	pts := d.pct
	if us < pts[0].us {
		return pts[0].p / 100 * us / math.Max(pts[0].us, 1)
	}
	for i := 1; i < len(pts); i++ {
		if us < pts[i].us {
			a, b := pts[i-1], pts[i]
			return (a.p + (b.p-a.p)*(us-a.us)/(b.us-a.us)) / 100
		}
	}
	return 1
}

// quantile is the latency (µs) below which a share q (0..1) of all the
// requests of the distributions together fall: each distribution weighs
// as many requests as it served. One distribution gives its own
// percentile back.
func quantile(ds []dist, q float64) float64 {
	total := 0
	lo, hi := math.Inf(1), 0.0
	for _, d := range ds {
		total += d.n
		lo = math.Min(lo, d.pct[0].us)
		hi = math.Max(hi, d.pct[len(d.pct)-1].us)
	}
	lo = math.Min(lo, 0)
	share := func(us float64) float64 {
		s := 0.0
		for _, d := range ds {
			s += float64(d.n) * d.cdf(us)
		}
		return s / float64(total)
	}
	for range 100 {
		mid := (lo + hi) / 2
		if share(mid) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// load is one measured run: every target loaded at once, with what the
// tiers did meanwhile.
type load struct {
	Scenario   string
	Requests   int
	RPS        float64 // the targets' requests/s, summed
	P50, P99   time.Duration
	Errors     int
	Opens      opens   // connections opened to the upstreams during the run
	CPU        cpuUse  // per daemon, during the run
	SysCPU     cpuUse  // the part of CPU in the kernel (system time)
	MachineCPU float64 // the whole machine's busy CPU, % of one core
}

// runLoad loads the targets at once from the client namespace (one wrk
// process each) and measures connections and CPU meanwhile.
func runLoad(s *sandbox.Sandbox, counters *connCounters, scenario string, targets []target) (load, error) {
	l := load{Scenario: scenario}
	before, err := counters.read()
	if err != nil {
		return l, err
	}
	cpu0, busy0, err := cpuSnapshot(s)
	if err != nil {
		return l, err
	}
	start := time.Now()
	runs := make([]wrkRun, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"wrk", fmt.Sprintf("-t%d", t.threads), fmt.Sprintf("-c%d", t.conns),
				fmt.Sprintf("-d%ds", int(t.duration.Seconds())), "-s", filepath.Join(t.scriptDirectory, "wrk.lua")}
			if t.host != "" {
				args = append(args, "-H", "Host: "+t.host)
			}
			out, err := s.InClient(append(args, t.url)...).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("wrk %s: %v\n%s", t.url, err, out)
				return
			}
			runs[i], errs[i] = parseWrk(string(out))
		}()
	}
	// The daemons' CPU is read shortly before the load ends: when wrk
	// closes its connections, requests in flight are cancelled, and a
	// PostgreSQL backend whose query is cancelled that way ends with the
	// connection, taking its CPU time with it. CPU is a rate, so a
	// slightly shorter window measures the same.
	var (
		cpu1    procTicks
		busy1   machineTicks
		cpuErr  error
		window  float64
		sampled = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		time.Sleep(targets[0].duration - cpuEarly)
		cpu1, busy1, cpuErr = cpuSnapshot(s)
		window = time.Since(start).Seconds()
	}()
	wg.Wait()
	<-sampled
	if cpuErr != nil {
		return l, cpuErr
	}
	after, err := counters.read()
	if err != nil {
		return l, err
	}
	var ds []dist
	for i, r := range runs {
		if errs[i] != nil {
			return l, errs[i]
		}
		l.Requests += r.requests
		l.RPS += float64(r.requests) / r.seconds
		l.Errors += r.errors
		ds = append(ds, r.dist)
	}
	l.P50 = time.Duration(quantile(ds, 0.50) * float64(time.Microsecond))
	l.P99 = time.Duration(quantile(ds, 0.99) * float64(time.Microsecond))
	l.Opens = after.since(before)
	// wrk, still running in the client's namespace, is in cpu1.
	l.CPU, l.SysCPU = cpu1.sinceOver(cpu0, window)
	l.MachineCPU = busy1.percent(busy0)
	return l, nil
}

// opens counts the TCP connections opened to the upstreams: by HAProxy to
// the web servers for requests (its own stats' "connect", which leaves its
// health checks out), and to the application servers from the web servers
// (SYNs counted by a netfilter rule in each application server's
// namespace), and to the database from the application servers (the same
// in the database's namespace). -1: unknown (HAProxy reloaded, resetting its stats, or a
// host came or went).
type opens struct{ ToWeb, ToApp, ToDB int }

func (o opens) since(before opens) opens {
	d := func(a, b int) int {
		if a < 0 || b < 0 || a < b {
			return -1
		}
		return a - b
	}
	return opens{d(o.ToWeb, before.ToWeb), d(o.ToApp, before.ToApp), d(o.ToDB, before.ToDB)}
}

func (o opens) String() string {
	return count(o.ToWeb) + " / " + count(o.ToApp) + " / " + count(o.ToDB)
}

// connCounters reads the counters of opens, on the hosts in service when
// it was made (newConnCounters).
type connCounters struct {
	lbs, apps []sandbox.Host
	db        sandbox.Host
	s         *sandbox.Sandbox
}

// nftTable is the netfilter table the bench adds to each application
// server's namespace to count the SYNs from the web servers.
const nftTable = "wsbench_count"

// newConnCounters installs a SYN counter in each application server's
// namespace, counting new connections from the web servers to the
// application's port (the agents' checks, over loopback, and the client's
// direct load are not counted), and one in the database's, counting those
// from the application servers.
func newConnCounters(s *sandbox.Sandbox) (*connCounters, error) {
	db, _ := s.Topology.Host("db")
	c := &connCounters{lbs: s.Hosts("lb"), apps: s.Hosts("app"), db: db, s: s}
	ips := func(hosts []sandbox.Host) string {
		var v []string
		for _, h := range hosts {
			v = append(v, h.IP)
		}
		return strings.Join(v, ", ")
	}
	install := func(h sandbox.Host, from string, port int) error {
		rules := fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr { %[2]s } tcp dport %[3]d tcp flags & (syn | ack) == syn counter
	}
}
`, nftTable, from, port)
		cmd := exec.Command("ip", "netns", "exec", h.NS(), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s (Debian package nftables): %v: %s", h.NS(), err, out)
		}
		return nil
	}
	for _, h := range c.apps {
		if err := install(h, ips(s.Hosts("web")), sandbox.AppPort); err != nil {
			return nil, err
		}
	}
	if err := install(db, ips(c.apps), sandbox.DBPort); err != nil {
		return nil, err
	}
	return c, nil
}

// synCount reads the counter newConnCounters installed in h's namespace.
func synCount(h sandbox.Host) (int, error) {
	out, err := exec.Command("ip", "netns", "exec", h.NS(), "nft", "list", "table", "inet", nftTable).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft in %s: %v: %s", h.NS(), err, out)
	}
	m := nftCounterRe.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("nft in %s: no counter in:\n%s", h.NS(), out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, nil
}

var nftCounterRe = regexp.MustCompile(`counter packets (\d+)`)

func (c *connCounters) read() (opens, error) {
	var o opens
	for _, h := range c.lbs {
		n, err := haproxyConnects(filepath.Join(c.s.HostDir(h.Name), "run", "admin.sock"), lbconf.WebBackend)
		if err != nil {
			return o, fmt.Errorf("HAProxy stats of %s: %w", h.Name, err)
		}
		o.ToWeb += n
	}
	for _, h := range c.apps {
		n, err := synCount(h)
		if err != nil {
			return o, err
		}
		o.ToApp += n
	}
	n, err := synCount(c.db)
	o.ToDB = n
	return o, err
}

// haproxyConnects sums the "connect" counter (connections opened for
// requests, health checks not included) of the servers of backend, from
// HAProxy's admin socket.
func haproxyConnects(socket, backend string) (int, error) {
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("show stat\n")); err != nil {
		return 0, err
	}
	var b strings.Builder
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return sumConnects(b.String(), backend)
}

// sumConnects sums column "connect" over the server rows of backend in
// the CSV of HAProxy's "show stat".
func sumConnects(csv, backend string) (int, error) {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return 0, fmt.Errorf("not HAProxy's show stat output: %.200q", csv)
	}
	col := -1
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		if name == "connect" {
			col = i
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("HAProxy's stats have no connect column (HAProxy 2.0 or newer has)")
	}
	sum := 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) <= col || f[0] != backend || f[1] == "BACKEND" || f[1] == "FRONTEND" {
			continue
		}
		n, err := strconv.Atoi(f[col])
		if err != nil {
			return 0, fmt.Errorf("server %s: connect %q", f[1], f[col])
		}
		sum += n
	}
	return sum, nil
}

// cpuUse is CPU time per daemon ("tier/command", e.g. "web/nginx"), in %
// of one core over the run.
type cpuUse map[string]float64

// procTicks is CPU ticks per process (in all, and in the kernel), with
// the daemon it belongs to.
type procTicks map[int]procTime

type procTime struct {
	daemon     string
	ticks, sys uint64
}

// machineTicks is the whole machine's busy and total ticks (/proc/stat).
type machineTicks struct{ busy, total uint64 }

func (m machineTicks) percent(before machineTicks) float64 {
	if m.total <= before.total {
		return 0
	}
	return 100 * float64(len(cpuLines())) * float64(m.busy-before.busy) / float64(m.total-before.total)
}

// cpuEarly is how long before the end of a load the daemons' CPU is read.
const cpuEarly = 500 * time.Millisecond

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times.
const clockTicks = 100

// cpuSnapshot reads the CPU time of every process in the sandbox's
// namespaces, and the machine's.
func cpuSnapshot(s *sandbox.Sandbox) (procTicks, machineTicks, error) {
	p := procTicks{}
	hosts := append(s.Hosts("lb"), s.Hosts("web")...)
	hosts = append(hosts, s.Hosts("app")...)
	hosts = append(hosts, s.Topology.Fixed...)
	for _, h := range hosts {
		out, err := exec.Command("ip", "netns", "pids", h.NS()).Output()
		if err != nil {
			return nil, machineTicks{}, fmt.Errorf("ip netns pids %s: %w", h.NS(), err)
		}
		for _, f := range strings.Fields(string(out)) {
			pid, _ := strconv.Atoi(f)
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue // gone
			}
			comm, ticks, sys, ok := parseStat(string(b))
			if !ok || pid == os.Getpid() {
				continue
			}
			p[pid] = procTime{h.Tier + "/" + comm, ticks, sys}
		}
	}
	return p, readMachine(), nil
}

// parseStat reads the command and utime+stime of /proc/<pid>/stat.
func parseStat(stat string) (comm string, ticks, sys uint64, ok bool) {
	open, close := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		return "", 0, 0, false
	}
	f := strings.Fields(stat[close+1:])
	// After the command: state(0) ppid(1) … utime(11) stime(12). Not
	// cutime and cstime: a child reaped during the run would bring its
	// whole life's time (PostgreSQL's autovacuum workers, started by the
	// previous run's inserts).
	if len(f) < 13 {
		return "", 0, 0, false
	}
	user, err1 := strconv.ParseUint(f[11], 10, 64)
	sys, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return daemonName(stat[open+1 : close]), user + sys, sys, true
}

// daemonName is a process's command without the release suffix of the
// sandbox's builds ("app-linux-amd64-1a2b" → "app").
func daemonName(comm string) string {
	name, _, _ := strings.Cut(comm, "-linux")
	return name
}

// sinceOver is the CPU per daemon between two snapshots seconds apart. A
// process that started meanwhile counts all its time; one that ended
// meanwhile is left out (the daemons and their connections live through
// the runs).
func (p procTicks) sinceOver(before procTicks, seconds float64) (all, sys cpuUse) {
	all, sys = cpuUse{}, cpuUse{}
	for pid, a := range p {
		b, ok := before[pid]
		if ok && b.daemon != a.daemon { // the pid was reused
			ok = false
		}
		if ok && (a.ticks < b.ticks || a.sys < b.sys) {
			continue
		}
		if !ok {
			b = procTime{}
		}
		all[a.daemon] += 100 * float64(a.ticks-b.ticks) / clockTicks / seconds
		sys[a.daemon] += 100 * float64(a.sys-b.sys) / clockTicks / seconds
	}
	return all, sys
}

func cpuLines() []string {
	b, _ := os.ReadFile("/proc/stat")
	var cpus []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
			cpus = append(cpus, l)
		}
	}
	return cpus
}

func readMachine() machineTicks {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var m machineTicks
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m
}

// String lists the daemons by CPU, biggest first, with what is left of
// the machine's busy time.
func (u cpuUse) String() string {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return u[keys[i]] > u[keys[j]] || u[keys[i]] == u[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		if u[k] >= 0.5 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", k, u[k]))
		}
	}
	return strings.Join(parts, ", ")
}

func (u cpuUse) total() float64 {
	t := 0.0
	for _, v := range u {
		t += v
	}
	return t
}

// perRequest lists each daemon's CPU time per request (µs), the median
// over the loads, biggest first, and their sum: unlike requests/s, it
// hardly moves when other processes take the machine's CPU. The bigger
// ones say which share of it was in the kernel (system calls, and the
// network stack's work done on the sender's time).
func perRequest(ls []load) string {
	per := map[string][]float64{}
	var totals []float64
	for _, l := range ls {
		total := 0.0
		for d, pct := range l.CPU {
			// pct % of a core for the run: pct/100 s of CPU per second.
			us := pct / 100 * 1e6 / l.RPS
			per[d] = append(per[d], us)
			total += us
		}
		totals = append(totals, total)
	}
	keys := make([]string, 0, len(per))
	med := map[string]float64{}
	for d, v := range per {
		for len(v) < len(ls) { // absent from a run: none
			v = append(v, 0)
		}
		med[d] = median(v)
		keys = append(keys, d)
	}
	sort.Slice(keys, func(i, j int) bool {
		return med[keys[i]] > med[keys[j]] || med[keys[i]] == med[keys[j]] && keys[i] < keys[j]
	})
	parts := []string{fmt.Sprintf("all %.0f µs", median(totals))}
	for _, d := range keys {
		if med[d] < 0.5 {
			continue
		}
		part := fmt.Sprintf("%s %.1f", d, med[d])
		if med[d] >= 10 {
			var shares []float64
			for _, l := range ls {
				if l.CPU[d] > 0 {
					shares = append(shares, l.SysCPU[d]/l.CPU[d])
				}
			}
			if len(shares) > 0 {
				part += fmt.Sprintf(" (kernel %.0f%%)", 100*median(shares))
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
