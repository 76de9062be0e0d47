package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// TestRequestLinesFeedTheMetricFilters serves ordinary requests and a
// burst of 503s (the database down) with the JSON logger main uses, and
// evaluates the shipped metric filter patterns (package signals) on the
// lines written: every request counted once, the 503s as errors and as
// 503s, a latency on each; health checks are not counted; no query-string
// token reaches a line.
func TestRequestLinesFeedTheMetricFilters(t *testing.T) {
	const ok, burst, token = 12, 9, "QUERYTOKEN-19ef"
	st := &fakeStore{}
	var logs bytes.Buffer
	s := newServer(st, "app-1", slog.New(slog.NewJSONHandler(&logs, nil)))
	s.schemaOK.Store(true)
	h := s.routes()
	for range ok {
		do(t, h, "GET", "/?token="+token).wantStatus(t, 200)
	}
	do(t, h, "GET", "/healthz").wantStatus(t, 200)
	st.setErr(errors.New("database down"))
	for range burst {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/?token="+token, nil))
		if rec.Code != 503 {
			t.Fatalf("GET / with the database down = %d, want 503", rec.Code)
		}
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	counts, err := signals.CountLines(signals.App, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{signals.AppRequests: ok + burst, signals.App5xx: burst, signals.App503: burst, signals.AppLatency: ok + burst}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s counted %d, want %d; lines:\n%s", name, counts[name], n, logs.String())
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log holds the query string's token:\n%s", logs.String())
	}
}
