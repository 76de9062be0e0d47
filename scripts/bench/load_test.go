package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// wrkOutput is what wrk prints with wrkScript: requests in 2 s, 3 errors,
// latencies base+100 µs at p1 rising by 100 µs per percentile.
func wrkOutput(requests int, base float64) string {
	var b strings.Builder
	b.WriteString("Running 2s test @ http://10.81.0.10/\n  2 threads and 64 connections\n")
	b.WriteString("WS summary " + itoa(requests) + " 2000000 1 0 0 2 0\n")
	for p := 1; p <= 99; p++ {
		b.WriteString("WS pct " + itoa(p) + " " + itoa(int(base+float64(p)*100)) + "\n")
	}
	b.WriteString("WS pct 99.5 " + itoa(int(base+9950)) + "\nWS pct 99.9 " + itoa(int(base+9990)) + "\nWS pct 100 " + itoa(int(base+10000)) + "\n")
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput(1000, 900))
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 1000 || r.seconds != 2 || r.errors != 3 {
		t.Errorf("requests %d, seconds %v, errors %d; want 1000, 2, 3", r.requests, r.seconds, r.errors)
	}
	if len(r.dist.pct) != 102 {
		t.Errorf("%d percentiles, want 102", len(r.dist.pct))
	}
	if _, err := parseWrk("Requests/sec: 100\n"); err == nil {
		t.Error("output without the script's lines parsed")
	}
	// wrk's percentile(100) is 0: a distribution that falls is refused,
	// not merged into a p99 of 0.
	if _, err := parseWrk(strings.Replace(wrkOutput(1000, 900), "WS pct 100 10900", "WS pct 100 0", 1)); err == nil {
		t.Error("a falling distribution parsed")
	}
}

// TestQuantile: one distribution gives its own percentiles back; two
// equal-weight ones give the median between them; weights count.
func TestQuantile(t *testing.T) {
	a, _ := parseWrk(wrkOutput(1000, 900))   // p50 = 5900 µs
	b, _ := parseWrk(wrkOutput(1000, 20900)) // every latency 20 ms higher
	near := func(got, want float64) bool { return math.Abs(got-want) < 1 }
	if got := quantile([]dist{a.dist}, 0.5); !near(got, 5900) {
		t.Errorf("p50 of one distribution = %.0f µs, want 5900", got)
	}
	if got := quantile([]dist{a.dist}, 0.99); !near(got, 10800) {
		t.Errorf("p99 of one distribution = %.0f µs, want 10800", got)
	}
	// a's requests all lie below b's: half of all is a's maximum.
	if got := quantile([]dist{a.dist, b.dist}, 0.5); got < 10800 || got > 21000 {
		t.Errorf("p50 of two disjoint halves = %.0f µs, want between a's max and b's min", got)
	}
	// Weighted: with b nine times as heavy, p50 lies in b.
	b.dist.n = 9000
	if got := quantile([]dist{a.dist, b.dist}, 0.5); got < 21000 {
		t.Errorf("p50 with b nine times heavier = %.0f µs, want inside b", got)
	}
}

// TestSumConnects reads HAProxy's "show stat" CSV: the servers' connect
// column of one backend, not its BACKEND row (their sum again), nor other
// proxies.
func TestSumConnects(t *testing.T) {
	csv := "# pxname,svname,qcur,connect,reuse,\n" +
		"fe_www,FRONTEND,0,,,\n" +
		"be_web,web1,0,40,900,\n" +
		"be_web,web2,0,2,880,\n" +
		"be_web,BACKEND,0,42,1780,\n" +
		"stats,BACKEND,0,7,0,\n"
	n, err := sumConnects(csv, "be_web")
	if err != nil || n != 42 {
		t.Errorf("sumConnects = %d, %v; want 42", n, err)
	}
	if _, err := sumConnects("# pxname,svname,qcur\nbe_web,web1,0\n", "be_web"); err == nil {
		t.Error("stats without a connect column accepted")
	}
	if _, err := sumConnects("Unknown command\n", "be_web"); err == nil {
		t.Error("an error message accepted as stats")
	}
}

// TestOpensNeverNegative: a counter that went back (HAProxy reloaded and
// reset its stats) is unknown, "?", never a negative count.
func TestOpensNeverNegative(t *testing.T) {
	d := opens{ToWeb: 5, ToApp: 100, ToDB: 3}.since(opens{ToWeb: 40, ToApp: 90, ToDB: 3})
	if d != (opens{ToWeb: -1, ToApp: 10, ToDB: 0}) {
		t.Errorf("since = %+v", d)
	}
	if got := d.String(); got != "? / 10 / 0" {
		t.Errorf("String = %q", got)
	}
}

func TestParseStat(t *testing.T) {
	// A command with spaces and parentheses; utime 11, stime 22 (cutime
	// 33 and cstime 44, the reaped children's, do not count).
	stat := "4242 (app-linux-amd64 (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 4 0 100 0 0"
	comm, ticks, sys, ok := parseStat(stat)
	if !ok || comm != "app" || ticks != 33 || sys != 22 {
		t.Errorf("parseStat = %q, %d, %d, %v; want app, 33, 22, true", comm, ticks, sys, ok)
	}
	if _, _, _, ok := parseStat("4242 (x) S 1"); ok {
		t.Error("a short stat line parsed")
	}
}

// TestVerdict: a figure on the wrong side of its target says so in
// capitals; one without a target says nothing.
func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		rounds  []float64
		target  float64
		atLeast bool
		want    string
	}{
		{[]float64{0.5, 0.9, 0.6}, 80, true, "60.0% (rounds 50.0 to 90.0)  target ≥ 80%: BELOW TARGET"},
		{[]float64{0.85, 0.9, 0.8}, 80, true, "85.0% (rounds 80.0 to 90.0)  target ≥ 80%: met"},
		{[]float64{3, 2.5}, 2, false, "target ≤ 2%: ABOVE TARGET"},
		{[]float64{1, 2}, 2, false, "target ≤ 2%: met"},
	} {
		scale := 100.0
		if !c.atLeast {
			scale = 1
		}
		got := verdict("x", c.rounds, "%", scale, c.target, c.atLeast)
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("verdict(%v) = %q, want it to end in %q", c.rounds, got, c.want)
		}
	}
	if got := verdict("x", []float64{1}, " ms", 1, math.NaN(), false); strings.Contains(got, "target") {
		t.Errorf("a figure without target: %q", got)
	}
}

// TestSinceOver: CPU per daemon between two snapshots — a process in
// both counts its difference, a new one all its time, a reused pid as
// new, one that went backwards nothing.
func TestSinceOver(t *testing.T) {
	before := procTicks{
		1: {"web/nginx", 100, 60},
		2: {"web/nginx", 50, 10},
		3: {"app/app", 500, 100},
		4: {"db/postgres", 90, 9},
	}
	after := procTicks{
		1: {"web/nginx", 150, 90},  // +50, 30 in the kernel
		2: {"web/nginx", 60, 10},   // +10
		3: {"lb/haproxy", 20, 5},   // pid reused: all of it
		4: {"db/postgres", 80, 9},  // backwards: left out
		5: {"client/wrk", 100, 40}, // new: all of it
	}
	all, sys := after.sinceOver(before, 2) // ticks are 10 ms: 2 s = 200 ticks
	want := cpuUse{"web/nginx": 30, "lb/haproxy": 10, "client/wrk": 50}
	for d, w := range want {
		if math.Abs(all[d]-w) > 1e-9 {
			t.Errorf("%s: %.1f%%, want %.1f%%", d, all[d], w)
		}
	}
	if _, ok := all["db/postgres"]; ok || len(all) != len(want) {
		t.Errorf("daemons %v, want %v", all, want)
	}
	if math.Abs(sys["web/nginx"]-15) > 1e-9 {
		t.Errorf("nginx in the kernel: %.1f%%, want 15%%", sys["web/nginx"])
	}
}
