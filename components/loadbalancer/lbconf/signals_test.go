package lbconf_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/testtools"
)

// TestLogLinesFeedTheMetricFilters runs the real HAProxy with the shipped
// configuration and log format: ordinary requests, a burst of 502s (a web
// server that drops the connection) and, through a second HAProxy whose
// only web server is down, a burst of HAProxy's own 503s. The shipped
// metric filter patterns (package signals), evaluated on the lines HAProxy
// wrote, count every request, each 5xx once, and tell the two causes
// apart. No query-string token, cookie, Authorization header or the stats
// password reaches a log line.
func TestLogLinesFeedTheMetricFilters(t *testing.T) {
	haproxy := testtools.Need(t, "haproxy", "haproxy")
	const ok, boom, nosrv = 20, 10, 12
	const token, cookie, bearer = "QUERYTOKEN-4b1d", "COOKIE-77aa", "BEARER-c0de"
	c := &http.Client{Timeout: 10 * time.Second}
	send := func(url string, n, want int) {
		t.Helper()
		for range n {
			req, _ := http.NewRequest(http.MethodGet, url+"?token="+token, nil)
			req.Header.Set("Cookie", "session="+cookie)
			req.Header.Set("Authorization", "Bearer "+bearer)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, want)
			}
		}
	}

	web := newWeb(t, "web1")
	up := sandboxHAProxy(t, web)
	startHAProxy(t, haproxy, up)
	waitStates(t, up, map[string]string{"web1": "UP"})
	front := fmt.Sprintf("http://127.0.0.1:%d", up.HTTPPort)
	send(front+"/page", ok, 200)
	send(front+"/boom", boom, 502)

	gone := newWeb(t, "web9")
	down := sandboxHAProxy(t, gone)
	gone.srv.Close()
	startHAProxy(t, haproxy, down)
	waitStates(t, down, map[string]string{"web9": "DOWN"})
	send(fmt.Sprintf("http://127.0.0.1:%d/page", down.HTTPPort), nosrv, 503)

	var lines []string
	for _, h := range []string{up.RuntimeDir, down.RuntimeDir} {
		lines = append(lines, waitJSONLines(t, filepath.Join(h, "haproxy.log"))...)
	}
	t.Logf("first and last lines:\n%s\n%s", lines[0], lines[len(lines)-1])
	counts, err := signals.CountLines(signals.LoadBalancer, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		signals.LBRequests: ok + boom + nosrv, signals.LB5xx: boom + nosrv, signals.LBNoServer: nosrv,
		signals.LBTimeout: 0, signals.LBLatency: ok + boom + nosrv,
	}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s counted %d, want %d; lines:\n%s", name, counts[name], n, strings.Join(lines, "\n"))
		}
	}
	for _, h := range []string{up.RuntimeDir, down.RuntimeDir} {
		b, _ := os.ReadFile(filepath.Join(h, "haproxy.log"))
		for _, secret := range []string{token, cookie, bearer, statsPassword} {
			if strings.Contains(string(b), secret) {
				t.Errorf("HAProxy's log contains %q", secret)
			}
		}
	}
}

// waitJSONLines waits until HAProxy's output holds request lines (JSON)
// and no new one arrives for a moment, and returns them.
func waitJSONLines(t *testing.T, path string) []string {
	t.Helper()
	var last []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "{") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 && len(lines) == len(last) {
			return lines
		}
		last = lines
	}
	return last
}
