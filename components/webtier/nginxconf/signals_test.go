package nginxconf_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// Secrets a client might send; none may reach a log line.
const (
	queryToken  = "QUERYTOKEN-7f3a"
	cookieValue = "COOKIE-SESSION-91c2"
	bearerToken = "BEARER-5d0e"
)

// TestAccessLogFeedsTheMetricFilters runs the real nginx with the shipped
// configuration, sends ordinary requests and a burst of the application's
// 503s, and evaluates the shipped metric filter patterns (package signals)
// on the lines nginx wrote: every request is counted, each 5xx as one, and
// every line publishes a latency. No token, cookie or Authorization header
// reaches the access or error log.
func TestAccessLogFeedsTheMetricFilters(t *testing.T) {
	s := startStack(t, 1)
	const ok, burst = 20, 15
	secret := map[string]string{"Cookie": "session=" + cookieValue, "Authorization": "Bearer " + bearerToken}
	for i := range ok {
		r, err := s.do(http.MethodGet, "/page?token="+queryToken+"&i="+string(rune('a'+i)), "", secret)
		must(t, err)
		if r.status != 200 {
			t.Fatalf("GET /page = %d", r.status)
		}
	}
	for range burst {
		r, err := s.do(http.MethodGet, "/busy?token="+queryToken, "", secret)
		must(t, err)
		if r.status != 503 {
			t.Fatalf("GET /busy = %d, want the application's 503", r.status)
		}
	}
	s.get("/healthz") // answered by nginx, not logged

	lines := waitLines(t, filepath.Join(s.dir, "access.log"), ok+burst)
	counts, err := signals.CountLines(signals.Web, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{signals.WebRequests: ok + burst, signals.Web5xx: burst, signals.WebLatency: ok + burst}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s counted %d, want %d (lines:\n%s)", name, counts[name], n, strings.Join(lines, "\n"))
		}
	}

	for _, f := range []string{"access.log", "error.log"} {
		b, _ := os.ReadFile(filepath.Join(s.dir, f))
		for _, sec := range []string{queryToken, cookieValue, bearerToken} {
			if strings.Contains(string(b), sec) {
				t.Errorf("%s contains %q:\n%s", f, sec, b)
			}
		}
	}
}

// waitLines waits until the file holds at least n lines and returns them.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) >= n && lines[0] != "" || time.Now().After(deadline) {
			break
		}
	}
	if len(lines) < n {
		t.Fatalf("%s has %d lines, want %d", path, len(lines), n)
	}
	return lines
}
